"""The cloud provider interface the provisioning loop uses, and its AWS implementation.

from clusters.cloud import CloudProvider, LaunchRequest, Offering, CapacityType
from clusters.cloud.aws_session import AssumeRoleTarget, AwsEndpoints, assumed_role_session
from clusters.cloud.aws_provider import AwsCloudProvider, AwsProviderConfig
"""

from clusters.cloud.errors import (
    CloudError,
    CloudUnavailableError,
    ErrorKind,
    InsufficientCapacityError,
    InvalidRequestError,
    ThrottledError,
    UnauthorizedError,
)
from clusters.cloud.interface import (
    CloudProvider,
    Instance,
    InstanceState,
    InterruptionNotice,
    LaunchRequest,
    LaunchResult,
    NoticeKind,
    Offering,
    OfferingFailure,
    PriceQuote,
)
from engines.kube.capacity import CapacityType

__all__ = [
    "CapacityType",
    "CloudError",
    "CloudProvider",
    "CloudUnavailableError",
    "ErrorKind",
    "Instance",
    "InstanceState",
    "InsufficientCapacityError",
    "InterruptionNotice",
    "InvalidRequestError",
    "LaunchRequest",
    "LaunchResult",
    "NoticeKind",
    "Offering",
    "OfferingFailure",
    "PriceQuote",
    "ThrottledError",
    "UnauthorizedError",
]
