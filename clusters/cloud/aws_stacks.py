"""The customer's onboarding stack, read from CloudFormation (`DescribeStacks`, under the customer's
role): its id, status and outputs, which name the node role, instance profile and interruption queue
the stack created. Names are never guessed; a stack that is not there is said so."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from clusters.cloud.aws_errors import classify
from clusters.cloud.aws_session import AwsEndpoints, client
from clusters.cloud.errors import CloudError

# Statuses of a stack whose resources (and so whose outputs) exist.
USABLE_STATUSES = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
)


@dataclass(frozen=True)
class StackFacts:
    stack_id: str
    status: str
    outputs: dict[str, str]


def describe_stack(
    session: boto3.Session, stack: str, endpoints: AwsEndpoints | None, *, role_arn: str = ""
) -> StackFacts:
    """The stack named `stack` (a name or a stack ARN) in the session's region."""
    cloudformation = client(session, "cloudformation", endpoints)
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", ""))
        if error.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in message:
            raise CloudError(
                f"no CloudFormation stack {stack} in {session.region_name}: create it with the stack link, or "
                "give the name (or ARN) of the stack you created",
                provider_code="ValidationError",
                operation="DescribeStacks",
            ) from error
        raise classify(error, role_arn=role_arn, context=f"reading the stack {stack}") from error
    except BotoCoreError as error:
        raise classify(error, role_arn=role_arn, context=f"reading the stack {stack}") from error
    if not found:
        raise CloudError(f"no CloudFormation stack {stack}", operation="DescribeStacks")
    described = found[0]
    return StackFacts(
        stack_id=str(described.get("StackId", "")),
        status=str(described.get("StackStatus", "")),
        outputs={str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in described.get("Outputs") or []},
    )
