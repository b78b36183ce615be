"""Reaching a customer's AWS account through their role: verify it, discover EKS clusters, and mint
EKS bearer tokens. Every AssumeRole sends the stored role ARN and that organization's external ID."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from clusters.cloud.aws_provider import AwsCloudProvider, AwsProviderConfig, describe_eks_cluster
from clusters.cloud.aws_session import AssumeRoleTarget, AwsEndpoints, assumed_role_session
from clusters.cloud.eks_token import eks_bearer_token
from clusters.cloud.errors import CloudError, UnauthorizedError
from clusters.cloud.interface import EksClusterInfo as EksClusterInfo  # re-exported: discovery returns it
from engines.kube.capacity import CapacityType

ROLE_ARN = re.compile(r"^arn:aws(?:-us-gov|-cn)?:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_BOTO_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20)
# EKS tokens are valid 15 minutes after signing; refresh well before (aws-iam-authenticator uses 14).
TOKEN_LIFETIME_SECONDS = 15 * 60
TOKEN_REFRESH_AFTER_SECONDS = 10 * 60


class RoleAccessError(Exception):
    """AssumeRole failed; the message says why and what to fix."""


@dataclass(frozen=True)
class PermissionCheck:
    action: str
    allowed: bool
    detail: str = ""


@dataclass(frozen=True)
class RoleVerification:
    account_id: str
    checks: tuple[PermissionCheck, ...]

    @property
    def missing(self) -> list[str]:
        return [check.action for check in self.checks if not check.allowed]


def account_of(role_arn: str) -> str:
    match = ROLE_ARN.match(role_arn.strip())
    if not match:
        raise RoleAccessError(
            "That is not an IAM role ARN; it looks like arn:aws:iam::123456789012:role/NodelessControlPlane "
            "(the RoleArn output of the CloudFormation stack)."
        )
    return match.group(1)


def endpoints() -> AwsEndpoints:
    return AwsEndpoints(endpoint_url=settings.NODELESS_AWS_ENDPOINT_URL)


def aws_client(service: str, region: str, session: boto3.Session) -> Any:
    return session.client(  # type: ignore[call-overload]
        service, region_name=region, endpoint_url=endpoints().for_service(service), config=_BOTO_CONFIG
    )


def assume_role(
    *, role_arn: str, external_id: str, region: str, session_name: str = "nodeless"
) -> boto3.Session:
    """A session acting as the customer's role. Raises RoleAccessError with the reason on failure."""
    account_of(role_arn)
    try:
        return assumed_role_session(
            AssumeRoleTarget(role_arn, external_id, region, session_name=session_name[:64]),
            endpoints=endpoints(),
        )
    except UnauthorizedError:
        raise RoleAccessError(
            f"AWS refused AssumeRole on {role_arn}: the role does not exist, does not trust "
            f"{settings.NODELESS_AWS_PRINCIPAL_ARN}, or its sts:ExternalId condition does not match "
            f"this organization's external ID ({external_id}). Check the role's trust policy."
        )
    except CloudError as error:
        raise RoleAccessError(f"Cannot assume {role_arn}: {error.message}")


# (action, service, operation, parameters). EC2 calls run with DryRun=True: AWS answers
# DryRunOperation when the role may, UnauthorizedOperation when it may not, and launches nothing.
# Launches tag every resource they create, as the controller policy's aws:RequestTag conditions require.
def _dry_run_tags(*kinds: str) -> list[dict[str, Any]]:
    return [
        {
            "ResourceType": kind,
            "Tags": [
                {"Key": "nodeless.io/managed-by", "Value": "nodeless"},
                {"Key": "nodeless.io/cluster", "Value": "verification"},
            ],
        }
        for kind in kinds
    ]


_CHECKS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("ec2:DescribeInstances", "ec2", "describe_instances", {"DryRun": True}),
    ("ec2:DescribeInstanceTypes", "ec2", "describe_instance_types", {"DryRun": True}),
    ("ec2:DescribeSpotPriceHistory", "ec2", "describe_spot_price_history", {"DryRun": True}),
    ("ec2:DescribeSubnets", "ec2", "describe_subnets", {"DryRun": True}),
    (
        "ec2:RunInstances",
        "ec2",
        "run_instances",
        {
            "DryRun": True,
            "ImageId": "ami-00000000000000000",
            "InstanceType": "t3.micro",
            "MinCount": 1,
            "MaxCount": 1,
            "TagSpecifications": _dry_run_tags("instance", "volume", "network-interface"),
        },
    ),
    (
        "ec2:CreateFleet",
        "ec2",
        "create_fleet",
        {
            "DryRun": True,
            "Type": "instant",
            "LaunchTemplateConfigs": [
                {
                    "LaunchTemplateSpecification": {
                        "LaunchTemplateName": "nodeless-verification",
                        "Version": "$Latest",
                    },
                    "Overrides": [{"InstanceType": "t3.micro"}],
                }
            ],
            "TargetCapacitySpecification": {
                "TotalTargetCapacity": 1,
                "DefaultTargetCapacityType": CapacityType.ON_DEMAND.aws_value,
            },
            "TagSpecifications": _dry_run_tags("fleet", "instance", "volume", "network-interface"),
        },
    ),
    (
        "ec2:CreateTags",
        "ec2",
        "create_tags",
        {
            "DryRun": True,
            "Resources": ["i-00000000000000000"],
            "Tags": [{"Key": "Name", "Value": "nodeless"}],
        },
    ),
    (
        "ec2:TerminateInstances",
        "ec2",
        "terminate_instances",
        {"DryRun": True, "InstanceIds": ["i-00000000000000000"]},
    ),
    ("eks:ListClusters", "eks", "list_clusters", {"maxResults": 1}),
    ("pricing:GetProducts", "pricing", "get_products", {"ServiceCode": "AmazonEC2", "MaxResults": 1}),
)
_DENIED = {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "UnauthorizedException"}


def _check(
    session: boto3.Session, region: str, action: str, service: str, operation: str, params: dict[str, Any]
) -> PermissionCheck:
    # The Pricing API lives in us-east-1 (and a few others) whatever region the account uses.
    client = aws_client(service, "us-east-1" if service == "pricing" else region, session)
    try:
        getattr(client, operation)(**params)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "DryRunOperation":
            return PermissionCheck(action, allowed=True)
        if code in _DENIED:
            return PermissionCheck(action, allowed=False, detail=f"the role cannot {action}")
        # Any other answer means AWS got past authorization to validate the request.
        return PermissionCheck(action, allowed=True, detail=f"authorized ({code} on the test request)")
    except BotoCoreError as error:
        return PermissionCheck(action, allowed=False, detail=f"could not check {action}: {error}")
    return PermissionCheck(action, allowed=True)


def verify_role(*, role_arn: str, external_id: str, regions: list[str]) -> RoleVerification:
    region = regions[0] if regions else "us-east-1"
    session = assume_role(
        role_arn=role_arn, external_id=external_id, region=region, session_name="nodeless-verify"
    )
    checks = tuple(_check(session, region, *check) for check in _CHECKS)
    return RoleVerification(account_id=account_of(role_arn), checks=checks)


def list_eks_clusters(*, role_arn: str, external_id: str, regions: list[str]) -> list[EksClusterInfo]:
    found: list[EksClusterInfo] = []
    for region in regions:
        session = assume_role(
            role_arn=role_arn, external_id=external_id, region=region, session_name="nodeless-discover"
        )
        eks = aws_client("eks", region, session)
        try:
            names = [
                name for page in eks.get_paginator("list_clusters").paginate() for name in page["clusters"]
            ]
            for name in names:
                found.append(describe_eks_cluster(eks, name=name, region=region))
        except ClientError as error:
            raise RoleAccessError(
                f"Listing EKS clusters in {region} failed: {error.response['Error'].get('Message')}"
            )
    return found


def account_provider(*, role_arn: str, external_id: str, region: str, session_name: str) -> AwsCloudProvider:
    """The cloud provider acting as the customer's role in `region`, before any cluster is recorded
    (importing one). Raises RoleAccessError when the role cannot be assumed."""
    session = assume_role(
        role_arn=role_arn, external_id=external_id, region=region, session_name=session_name
    )
    return AwsCloudProvider(session, AwsProviderConfig(region=region, role_arn=role_arn), endpoints())


class EksTokenCache:
    """Tokens per (role, cluster), in this process only: a token is a credential, so it is never
    written to a shared cache. Refreshed after 10 of its 15 minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str, str], tuple[float, str]] = {}

    def get(self, *, role_arn: str, external_id: str, cluster_name: str, region: str) -> str:
        key = (role_arn, external_id, cluster_name, region)
        now = time.monotonic()
        with self._lock:
            cached = self._tokens.get(key)
            if cached and now - cached[0] < TOKEN_REFRESH_AFTER_SECONDS:
                return cached[1]
        session = assume_role(
            role_arn=role_arn, external_id=external_id, region=region, session_name="nodeless-eks"
        )
        token = eks_bearer_token(
            session, cluster_name, region, sts_endpoint=endpoints().for_service("sts")
        ).token
        with self._lock:
            self._tokens[key] = (now, token)
        return token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


eks_tokens = EksTokenCache()
