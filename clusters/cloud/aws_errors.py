"""botocore errors → classified `CloudError`s with a message that says what to do next."""

from __future__ import annotations

import re

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from clusters.cloud.errors import (
    CloudError,
    CloudUnavailableError,
    InsufficientCapacityError,
    InvalidRequestError,
    ThrottledError,
    UnauthorizedError,
)

# Every way a botocore call fails: its own errors, AWS's answers, and an answer that is not AWS's at
# all (a proxy's or load balancer's HTML error page: botocore's ResponseParserError derives from
# neither of the others).
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)
AwsError = ClientError | BotoCoreError | ResponseParserError

CAPACITY_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientFreeAddressesInSubnet",
        "UnfulfillableCapacity",
        "MaxSpotInstanceCountExceeded",
        "SpotMaxPriceTooLow",
        "VcpuLimitExceeded",
        "InstanceLimitExceeded",
    }
)
THROTTLE_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequestsException",
        "SlowDown",
    }
)
UNAUTHORIZED_CODES = frozenset(
    {
        "UnauthorizedOperation",
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
_ACTION = re.compile(r"perform: ([a-z0-9-]+:[A-Za-z0-9*]+)")


def classify_code(code: str) -> type[CloudError]:
    if code in CAPACITY_CODES:
        return InsufficientCapacityError
    if code in THROTTLE_CODES:
        return ThrottledError
    if code in UNAUTHORIZED_CODES:
        return UnauthorizedError
    return InvalidRequestError


def _unauthorized_message(operation: str, aws_message: str, role_arn: str) -> str:
    if operation == "AssumeRole":
        return (
            f"Nodeless could not assume the role {role_arn}: the role does not exist, or its trust policy does not "
            "allow Nodeless's account with this organization's external ID. Re-run the Nodeless CloudFormation "
            f"stack, or check the role's trust policy. (AWS said: {aws_message})"
        )
    action = _ACTION.search(aws_message)
    needed = action.group(1) if action else f"the permission for {operation}"
    return (
        f"The role {role_arn or 'Nodeless uses'} is not allowed to call {needed}. Add {needed} to the role's "
        f"policy (the Nodeless CloudFormation template grants it), then retry. (AWS said: {aws_message})"
    )


def classify(error: AwsError, *, role_arn: str = "", context: str = "") -> CloudError:
    """The `CloudError` for a botocore exception; `context` names what we were doing."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", ""))
        aws_message = str(details.get("Message", ""))
        operation = error.operation_name
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        kind = classify_code(code)
        if kind is InvalidRequestError and status >= 500:
            kind = CloudUnavailableError
        prefix = f"{context}: " if context else ""
        if kind is UnauthorizedError:
            message = _unauthorized_message(operation, aws_message, role_arn)
        elif kind is ThrottledError:
            message = (
                f"{prefix}AWS throttled {operation} ({code}) even after retrying. Nodeless backs off and retries; if "
                "this persists, another tool may be exhausting the account's EC2 API rate limit."
            )
        elif kind is InsufficientCapacityError:
            message = f"{prefix}AWS has no capacity for {operation}: {aws_message} Try other instance types or zones."
        elif kind is CloudUnavailableError:
            message = f"{prefix}AWS failed on {operation} ({code}, HTTP {status}); retry later. (AWS said: {aws_message})"
        else:
            message = f"{prefix}AWS rejected {operation} ({code}): {aws_message}"
        return kind(message, provider_code=code, operation=operation)
    if isinstance(error, ParamValidationError):
        return InvalidRequestError(
            f"{context + ': ' if context else ''}{error}", provider_code="ParamValidation"
        )
    if isinstance(error, NoCredentialsError):
        return UnauthorizedError(
            "Nodeless has no AWS credentials of its own to assume customer roles with; configure them on the server.",
            provider_code="NoCredentials",
        )
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)):
        return CloudUnavailableError(
            f"The AWS endpoint could not be reached ({error}); retry later.", provider_code="Connection"
        )
    if isinstance(error, ResponseParserError):
        # Its text holds the body it could not parse: say what happened, not what the page said.
        return CloudUnavailableError(
            f"{context + ': ' if context else ''}the AWS endpoint answered with something that is not an AWS "
            "response (an error page of a proxy or of the endpoint itself); retry later.",
            provider_code="ResponseParserError",
        )
    return CloudUnavailableError(f"The AWS call failed: {error}", provider_code=type(error).__name__)
