"""EKS bearer tokens, as `aws eks get-token` builds them (no kubeconfig, no network).

1. presign STS `GetCallerIdentity` (GET) with the header `x-k8s-aws-id: <cluster>` signed in;
2. token = `k8s-aws-v1.` + base64url(presigned URL) without padding;
3. the API server accepts it for 15 minutes from the signature; report 14 to be safe.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
from botocore.signers import RequestSigner

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_LIFETIME = timedelta(minutes=14)


@dataclass(frozen=True)
class EksToken:
    token: str
    expires_at: datetime


def eks_bearer_token(
    session: boto3.Session, cluster_name: str, region: str, *, sts_endpoint: str | None = None
) -> EksToken:
    """A token for `cluster_name` signed with `session`'s credentials.

    `sts_endpoint` defaults to the regional STS endpoint, which is what EKS expects; the
    simulated API server checks such tokens against the simulated cloud.
    """
    credentials = session.get_credentials()
    if credentials is None:
        raise ValueError("the session has no credentials to sign an EKS token with")
    sts = session.client("sts", region_name=region)
    signer = RequestSigner(
        sts.meta.service_model.service_id, region, "sts", "v4", credentials, session.events
    )
    base = (sts_endpoint or f"https://sts.{region}.amazonaws.com").rstrip("/")
    url = signer.generate_presigned_url(
        {
            "method": "GET",
            "url": f"{base}/?Action=GetCallerIdentity&Version=2011-06-15",
            "body": {},
            "headers": {"x-k8s-aws-id": cluster_name},
            "context": {},
        },
        region_name=region,
        expires_in=60,
        operation_name="",
    )
    token = TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return EksToken(token, datetime.now(UTC) + TOKEN_LIFETIME)
