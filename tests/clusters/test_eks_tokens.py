"""Our EKS bearer tokens satisfy every check the API server makes (aws-iam-authenticator's
tokenVerifier, saas-anchors §2.2), and are cached per cluster and refreshed before they expire."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest

from clusters.cloud.eks_token import eks_bearer_token
from clusters.onboarding import aws as onboarding

ALLOWED_PARAMETERS = {
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
}


def _decode(token: str) -> str:
    body = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_the_token_passes_every_server_side_check() -> None:
    session = boto3.Session(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        aws_session_token="tok",
        region_name="eu-west-1",
    )
    token = eks_bearer_token(session, "prod-cluster", "eu-west-1").token
    assert token.startswith("k8s-aws-v1.") and len(token) <= 4096 and "=" not in token
    url = urlsplit(_decode(token))
    assert url.scheme == "https" and url.hostname == "sts.eu-west-1.amazonaws.com" and url.path == "/"
    pairs = parse_qsl(url.query)
    keys = [key.lower() for key, _ in pairs]
    assert set(keys) <= ALLOWED_PARAMETERS and len(keys) == len(set(keys))
    params = {key.lower(): value for key, value in pairs}
    assert params["action"] == "GetCallerIdentity" and params["version"] == "2011-06-15"
    assert "x-k8s-aws-id" in params["x-amz-signedheaders"].split(";")
    assert 0 <= int(params["x-amz-expires"]) <= 900
    assert params["x-amz-security-token"] == "tok"


@pytest.mark.django_db
def test_tokens_are_cached_per_cluster_and_refreshed_after_ten_minutes(cast, aws_world, monkeypatch) -> None:
    """Counted at the (simulated) STS: a cached token costs no AssumeRole; a stale one does."""
    role_arn = aws_world.role(cast.org_a.external_id)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache = onboarding.EksTokenCache()

    def token(cluster_name: str) -> str:
        return cache.get(
            role_arn=role_arn,
            external_id=cast.org_a.external_id,
            cluster_name=cluster_name,
            region="us-east-1",
        )

    def assume_roles() -> int:
        return sum(1 for record in aws_world.cloud.assume_role_records() if record.role_arn == role_arn)

    first = token("a")
    assert assume_roles() == 1
    now[0] += 9 * 60
    assert token("a") == first and assume_roles() == 1
    token("b")
    assert assume_roles() == 2
    now[0] += 2 * 60
    assert token("a") != first and assume_roles() == 3
