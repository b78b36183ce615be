"""A boto3 session acting as a customer's role: STS AssumeRole with the organization's external ID,
refreshed before the credentials expire.

    session = assumed_role_session(
        AssumeRoleTarget(role_arn, external_id, region="us-east-1"),
        endpoints=AwsEndpoints(endpoint_url="http://127.0.0.1:PORT"),  # simulated cloud; None on AWS
    )
    ec2 = client(session, "ec2", endpoints)

The role is assumed at once, so a wrong role or external ID fails here (as UnauthorizedError)
rather than at the first EC2 call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from clusters.cloud.aws_errors import classify

DEFAULT_SESSION_NAME = "nodeless-control-plane"
DEFAULT_DURATION_SECONDS = 3600
# Every session the process makes (one per customer role) reads the services' API models through
# this one loader, which keeps what it parsed: a fresh session would parse EC2's model again, some
# 40 ms of CPU per client, on every role assumed.
_MODELS = botocore.loaders.create_loader()


def _session() -> botocore.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _MODELS)
    return core


@dataclass(frozen=True)
class AwsEndpoints:
    """Where the AWS APIs are: one `endpoint_url` for every service (the simulated cloud), or
    per-service overrides; None everywhere means the real AWS endpoints."""

    endpoint_url: str | None = None
    per_service: Mapping[str, str] = field(default_factory=dict)

    def for_service(self, service: str) -> str | None:
        return self.per_service.get(service, self.endpoint_url)


@dataclass(frozen=True)
class AssumeRoleTarget:
    role_arn: str
    external_id: str
    region: str
    session_name: str = DEFAULT_SESSION_NAME
    duration_seconds: int = DEFAULT_DURATION_SECONDS


def client_config(max_attempts: int = 3) -> Config:
    """Standard retries (throttling and 5xx back off and retry); `max_attempts` counts every try."""
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts}, connect_timeout=10, read_timeout=60
    )


class _AssumeRoleProvider(CredentialProvider):
    METHOD = "nodeless-assume-role"
    CANONICAL_NAME = "NodelessAssumeRole"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> RefreshableCredentials:
        return self._credentials


def assumed_role_session(
    target: AssumeRoleTarget,
    *,
    endpoints: AwsEndpoints | None = None,
    base_session: boto3.Session | None = None,
    max_attempts: int = 3,
) -> boto3.Session:
    """A session whose credentials come from AssumeRole and refresh themselves.

    `base_session` holds the control plane's own credentials (default: the usual boto3 chain).
    Raises UnauthorizedError when the role cannot be assumed.
    """
    endpoints = endpoints or AwsEndpoints()
    base = base_session or boto3.Session(botocore_session=_session())
    sts = base.client(
        "sts",
        region_name=target.region,
        endpoint_url=endpoints.for_service("sts"),
        config=client_config(max_attempts),
    )

    def fetch() -> dict[str, Any]:
        try:
            response = sts.assume_role(
                RoleArn=target.role_arn,
                RoleSessionName=target.session_name,
                ExternalId=target.external_id,
                DurationSeconds=target.duration_seconds,
            )
        except (ClientError, BotoCoreError) as error:
            raise classify(error, role_arn=target.role_arn) from error
        credentials = response["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    refreshable = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method=_AssumeRoleProvider.METHOD
    )
    core = _session()
    core.get_component("credential_provider").insert_before("env", _AssumeRoleProvider(refreshable))
    return boto3.Session(botocore_session=core, region_name=target.region)


def client(
    session: boto3.Session, service: str, endpoints: AwsEndpoints | None = None, *, max_attempts: int = 3
) -> Any:
    """A client for `service` honouring the endpoint overrides (typed by the caller's use)."""
    endpoints = endpoints or AwsEndpoints()
    return session.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoints.for_service(service), config=client_config(max_attempts)
    )
