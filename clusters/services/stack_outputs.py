"""The onboarding stack's outputs, stored on the cloud account: the product reads the interruption
queue (and, for launch templates, the node role and instance profile) from them instead of guessing
names. The stack names its queue `nodeless-interruptions-<stack name>`; the product used to look up
`nodeless-<cluster>-interruptions`, which no stack creates."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clusters.cloud.aws_stacks import USABLE_STATUSES, describe_stack
from clusters.cloud.errors import CloudError
from clusters.models import CloudAccount
from clusters.onboarding.aws import RoleAccessError, assume_role, endpoints
from clusters.onboarding.cloudformation import STACK_NAME
from clusters.onboarding.interruption_stack import stack_outputs
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization

KNOWN_OUTPUTS = tuple(stack_outputs())
# Outputs a stack of another generation may carry (Fargate's pod execution role): shown when present.
OPTIONAL_OUTPUTS = ("PodExecutionRoleArn",)
_STACK_ARN = re.compile(
    r"^arn:aws(?:-us-gov|-cn)?:cloudformation:([a-z0-9-]+):(\d{12}):stack/([\w-]{1,128})/"
)
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
STACK_FIELDS = ("stack_outputs", "stack_name", "stack_id", "stack_error", "stack_read_at")
_QUEUE_ARN = re.compile(r"^arn:aws(?:-us-gov|-cn)?:sqs:([a-z0-9-]+):(\d{12}):([\w-]{1,80})$")
_QUEUE_URL = re.compile(r"^https?://[^/\s]+/(\d{12})/([\w-]{1,80})$")


def _clean(account: CloudAccount, outputs: Mapping[str, Any]) -> dict[str, str]:
    unknown = sorted(set(outputs) - set(KNOWN_OUTPUTS) - set(OPTIONAL_OUTPUTS))
    if unknown:
        raise ValidationError(
            {
                "stack_outputs": f"Unknown output {unknown[0]!r}; the stack's outputs are {', '.join(KNOWN_OUTPUTS)}."
            }
        )
    clean = {key: str(value).strip() for key, value in outputs.items() if str(value or "").strip()}
    url, arn = clean.get("InterruptionQueueUrl"), clean.get("InterruptionQueueArn")
    url_match = _QUEUE_URL.match(url) if url else None
    arn_match = _QUEUE_ARN.match(arn) if arn else None
    if url and not url_match:
        raise ValidationError(
            {"stack_outputs": f"{url} is not an SQS queue URL (…/<account id>/<queue name>)."}
        )
    if arn and not arn_match:
        raise ValidationError({"stack_outputs": f"{arn} is not an SQS queue ARN (arn:aws:sqs:<region>:…)."})
    for match in (m for m in (url_match, arn_match) if m is not None):
        owner, name = match.groups()[-2:]
        if owner != account.account_id:
            raise ValidationError(
                {
                    "stack_outputs": f"The queue {name} is in account {owner}, not this account ({account.account_id})."
                }
            )
        if clean.get("InterruptionQueueName", name) != name:
            raise ValidationError(
                {"stack_outputs": "InterruptionQueueName, Url and Arn name different queues."}
            )
    return clean


@transaction.atomic
def cloud_account_stack_outputs_set(
    organization: Organization, *, account: CloudAccount, actor: Actor, outputs: Mapping[str, Any]
) -> CloudAccount:
    """Store the outputs of the account's onboarding stack (as its Outputs tab shows them)."""
    account.stack_outputs = _clean(account, outputs)
    account.save(update_fields=["stack_outputs"])
    audit_record(
        organization,
        actor=actor,
        action="cloud_account.stack_outputs",
        target=account,
        metadata={"outputs": sorted(account.stack_outputs)},
    )
    return account


def clean_stack_name(account: CloudAccount, *, stack: str) -> str:
    """A stack name, or the ARN of a stack in the account; "" for the stack link's default."""
    stack = stack.strip()
    if not stack:
        return ""
    arn = _STACK_ARN.match(stack)
    if arn is not None:
        if arn.group(2) != account.account_id:
            raise ValidationError(
                {
                    "stack_name": f"That stack is in account {arn.group(2)}, not this account ({account.account_id})."
                }
            )
        return stack
    if not _STACK_NAME.match(stack):
        raise ValidationError(
            {
                "stack_name": "A CloudFormation stack name (letters, digits, hyphens; starts with a letter) or ARN."
            }
        )
    return stack


def _stack_region(account: CloudAccount, stack: str) -> str:
    arn = _STACK_ARN.match(stack)
    if arn is not None:
        return arn.group(1)
    # The stack link creates the stack in the account's first region.
    return account.regions[0] if account.regions else "us-east-1"


def cloud_account_stack_read(account: CloudAccount) -> CloudAccount:
    """Read the account's onboarding stack from CloudFormation (DescribeStacks under the customer's
    role) and store its outputs; when it cannot be read, keep the outputs last read and say why."""
    stack = account.stack_name or STACK_NAME
    region = _stack_region(account, stack)
    try:
        session = assume_role(
            role_arn=account.role_arn,
            external_id=account.organization.external_id,
            region=region,
            session_name="nodeless-stack",
        )
        facts = describe_stack(session, stack, endpoints(), role_arn=account.role_arn)
        if facts.status not in USABLE_STATUSES:
            raise CloudError(f"the stack {stack} is {facts.status}: its outputs are read once it is complete")
        wanted = {k: v for k, v in facts.outputs.items() if k in KNOWN_OUTPUTS or k in OPTIONAL_OUTPUTS}
        account.stack_outputs = _clean(account, wanted)
        account.stack_id, account.stack_error = facts.stack_id, ""
    except (CloudError, RoleAccessError) as error:
        account.stack_error = getattr(error, "message", str(error))
    except ValidationError as error:
        account.stack_error = f"the stack's outputs are not usable: {'; '.join(error.messages)}"
    account.stack_read_at = timezone.now()
    account.save(update_fields=list(STACK_FIELDS))
    return account
