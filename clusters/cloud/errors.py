"""Classified cloud errors: what went wrong, in words a person can act on.

Every failure of a cloud call surfaces as one `CloudError` subclass, so callers branch on the
kind (retry later, try other offerings, ask the customer to fix the role) rather than on
provider-specific codes. `provider_code` keeps the provider's code for logs and support.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    INSUFFICIENT_CAPACITY = "insufficient_capacity"
    THROTTLED = "throttled"
    UNAUTHORIZED = "unauthorized"
    INVALID_REQUEST = "invalid_request"
    UNAVAILABLE = "unavailable"  # the cloud endpoint failed or could not be reached


class CloudError(Exception):
    kind: ErrorKind = ErrorKind.UNAVAILABLE
    retryable: bool = False

    def __init__(self, message: str, *, provider_code: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.provider_code = provider_code
        self.operation = operation


class InsufficientCapacityError(CloudError):
    """No offering in the list had capacity (or none was usable): try other offerings later."""

    kind = ErrorKind.INSUFFICIENT_CAPACITY
    retryable = True


class ThrottledError(CloudError):
    """The provider rate-limited the calls, even after the client's retries: back off."""

    kind = ErrorKind.THROTTLED
    retryable = True


class UnauthorizedError(CloudError):
    """The role could not be assumed, or lacks a permission: the customer must fix IAM."""

    kind = ErrorKind.UNAUTHORIZED


class InvalidRequestError(CloudError):
    """The provider rejected the request itself (unknown type, bad template, wrong queue, ...)."""

    kind = ErrorKind.INVALID_REQUEST


class CloudUnavailableError(CloudError):
    """The provider's endpoint failed (5xx) or could not be reached: retry later."""

    kind = ErrorKind.UNAVAILABLE
    retryable = True
