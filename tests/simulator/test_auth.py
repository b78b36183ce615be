"""Authentication (static tokens over TLS, EKS tokens checked against STS) and authorization."""

import base64
import json
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
from kubernetes import client

from clusters.cloud.aws_session import AssumeRoleTarget, AwsEndpoints, assumed_role_session
from clusters.cloud.eks_token import eks_bearer_token
from simulator.auth import READ_ONLY
from simulator.cloud.simulated_cloud import trust_policy
from simulator.eks_tokens import EksTokenVerifier, TokenRejected, canonical_principal_arn
from tests.fixtures.simulation import kube_api

READONLY_TOKEN = "read-only-token"
DENIED_FOR_READERS = [
    ("create", "pods", "binding"),
    ("patch", "nodes", ""),
    ("create", "pods", "eviction"),
    ("delete", "nodes", ""),
]


@pytest.fixture
def cluster(simulated_cluster):
    return simulated_cluster(run_controllers=False, extra_tokens={READONLY_TOKEN: READ_ONLY})


def access_review(api_client, verb, resource, subresource):
    review = kube_api(client.AuthorizationV1Api, api_client).create_self_subject_access_review(
        {
            "spec": {
                "resourceAttributes": {
                    "verb": verb,
                    "resource": resource,
                    "subresource": subresource,
                    "namespace": "default",
                }
            }
        }
    )
    return review.status.allowed


def test_requests_without_a_valid_token_are_unauthorized(cluster, kube_client):
    for token in ("", "not-a-token"):
        with pytest.raises(client.ApiException) as error:
            kube_api(client.CoreV1Api, kube_client(cluster, token=token or " ")).list_namespace()
        assert error.value.status == 401 and json.loads(error.value.body or "{}")["reason"] == "Unauthorized"


def test_version_is_public(cluster, kube_client):
    assert kube_api(client.VersionApi, kube_client(cluster, token="anything")).get_code().git_version


def test_a_read_only_identity_reads_but_is_denied_writes(cluster, kube_client):
    reader = kube_client(cluster, token=READONLY_TOKEN)
    kube_api(client.CoreV1Api, kube_client(cluster)).create_node({"metadata": {"name": "n1"}})
    assert [n.metadata.name for n in kube_api(client.CoreV1Api, reader).list_node().items] == ["n1"]
    with pytest.raises(client.ApiException) as error:
        kube_api(client.CoreV1Api, reader).patch_node("n1", {"spec": {"unschedulable": True}})
    body = json.loads(error.value.body or "{}")
    assert error.value.status == 403 and body["reason"] == "Forbidden"
    assert 'cannot patch resource "nodes"' in body["message"]


@pytest.mark.parametrize(("verb", "resource", "subresource"), DENIED_FOR_READERS)
def test_access_reviews_tell_the_truth(cluster, kube_client, verb, resource, subresource):
    assert access_review(kube_client(cluster, token=READONLY_TOKEN), verb, resource, subresource) is False
    assert access_review(kube_client(cluster), verb, resource, subresource) is True


def test_read_only_identity_cannot_bind_or_evict(cluster, kube_client):
    admin = kube_api(client.CoreV1Api, kube_client(cluster))
    admin.create_namespaced_pod(
        "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    )
    reader = kube_api(client.CoreV1Api, kube_client(cluster, token=READONLY_TOKEN))
    with pytest.raises(client.ApiException) as binding:
        reader.create_namespaced_pod_binding(
            "p", "default", {"metadata": {"name": "p"}, "target": {"name": "n1"}}, _preload_content=False
        )
    with pytest.raises(client.ApiException) as eviction:
        reader.create_namespaced_pod_eviction("p", "default", {"metadata": {"name": "p"}})
    assert binding.value.status == eviction.value.status == 403


# --- EKS tokens --------------------------------------------------------------------------------


@pytest.fixture
def eks_cluster(simulated_cloud, simulated_cluster):
    return simulated_cluster(cloud=simulated_cloud, run_controllers=False)


def test_an_eks_token_of_a_mapped_role_is_accepted(
    eks_cluster, simulated_cloud, control_plane_session, kube_client
):
    token = eks_bearer_token(control_plane_session, eks_cluster.name, simulated_cloud.region).token
    api_client = kube_client(eks_cluster, token=token)
    assert {n.metadata.name for n in kube_api(client.CoreV1Api, api_client).list_namespace().items} >= {
        "default"
    }
    review = kube_api(client.AuthenticationV1Api, api_client).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    )
    assert review.status.user_info.extra["arn"] == [simulated_cloud.role_arn]


def test_a_token_signed_against_the_simulated_sts_endpoint_is_accepted(
    eks_cluster, simulated_cloud, control_plane_session, kube_client
):
    token = eks_bearer_token(
        control_plane_session, eks_cluster.name, "us-east-1", sts_endpoint=simulated_cloud.endpoint_url
    ).token
    assert kube_api(client.CoreV1Api, kube_client(eks_cluster, token=token)).list_namespace().items


def test_a_token_for_another_cluster_is_rejected(
    eks_cluster, simulated_cloud, control_plane_session, kube_client
):
    token = eks_bearer_token(control_plane_session, "some-other-cluster", simulated_cloud.region).token
    with pytest.raises(client.ApiException) as error:
        kube_api(client.CoreV1Api, kube_client(eks_cluster, token=token)).list_namespace()
    assert error.value.status == 401
    assert "signature" in eks_cluster.eks_authenticator.last_rejection.lower()


def test_a_role_without_an_access_entry_is_rejected(eks_cluster, simulated_cloud, kube_client):
    role_arn = simulated_cloud.create_role(
        f"Unmapped{time.monotonic_ns()}",
        trust_policy(simulated_cloud.vendor_account_id, "unmapped"),
        ("eks:DescribeCluster",),
    )
    session = assumed_role_session(
        AssumeRoleTarget(role_arn, "unmapped", simulated_cloud.region),
        endpoints=AwsEndpoints(endpoint_url=simulated_cloud.endpoint_url),
        base_session=boto3.Session(**simulated_cloud.vendor_credentials()),
    )
    token = eks_bearer_token(session, eks_cluster.name, simulated_cloud.region).token
    with pytest.raises(client.ApiException) as error:
        kube_api(client.CoreV1Api, kube_client(eks_cluster, token=token)).list_namespace()
    assert error.value.status == 401
    assert role_arn in eks_cluster.eks_authenticator.last_rejection


def test_an_access_entry_created_through_the_eks_api_grants_access(eks_cluster, simulated_cloud, kube_client):
    role_name = f"Viewer{time.monotonic_ns()}"
    role_arn = simulated_cloud.create_role(
        role_name, trust_policy(simulated_cloud.vendor_account_id, "viewer-id"), ()
    )
    eks = boto3.client(
        "eks",
        endpoint_url=simulated_cloud.endpoint_url,
        region_name="us-east-1",
        **simulated_cloud.customer_admin_credentials(),
    )
    eks.create_access_entry(clusterName=eks_cluster.name, principalArn=role_arn)
    eks.associate_access_policy(
        clusterName=eks_cluster.name,
        principalArn=role_arn,
        policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
        accessScope={"type": "cluster"},
    )
    session = assumed_role_session(
        AssumeRoleTarget(role_arn, "viewer-id", simulated_cloud.region),
        endpoints=AwsEndpoints(endpoint_url=simulated_cloud.endpoint_url),
        base_session=boto3.Session(**simulated_cloud.vendor_credentials()),
    )
    viewer = kube_client(eks_cluster, token=eks_bearer_token(session, eks_cluster.name, "us-east-1").token)
    assert kube_api(client.CoreV1Api, viewer).list_namespace().items
    assert access_review(viewer, "delete", "nodes", "") is False


def _tampered(token: str) -> str:
    encoded = token[len("k8s-aws-v1.") :]
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query)]
    query = [(k, ("0" * len(v)) if k == "X-Amz-Signature" else v) for k, v in query]
    tampered = urlunsplit(parts._replace(query=urlencode(query)))
    return "k8s-aws-v1." + base64.urlsafe_b64encode(tampered.encode()).decode().rstrip("=")


def test_the_verifier_applies_the_authenticator_rules(eks_cluster, simulated_cloud, control_plane_session):
    token = eks_bearer_token(control_plane_session, eks_cluster.name, "us-east-1").token
    verifier = EksTokenVerifier(eks_cluster.name, simulated_cloud.endpoint_url)
    assert verifier.verify(token) == simulated_cloud.role_arn
    late = EksTokenVerifier(
        eks_cluster.name, simulated_cloud.endpoint_url, wall_clock=lambda: time.time() + 16 * 60
    )
    rejected = [
        ("expired", late, token),
        ("tampered signature", verifier, _tampered(token)),
        ("no prefix", verifier, token[len("k8s-aws-v1.") :]),
        ("too large", verifier, token + "A" * 4096),
        (
            "not an STS host",
            verifier,
            "k8s-aws-v1."
            + base64.urlsafe_b64encode(b"https://evil.example.com/?Action=GetCallerIdentity")
            .decode()
            .rstrip("="),
        ),
    ]
    for _why, checker, bad in rejected:
        with pytest.raises(TokenRejected):
            checker.verify(bad)


def test_assumed_role_arns_are_canonicalised_to_the_role():
    assert (
        canonical_principal_arn("arn:aws:sts::123456789012:assumed-role/Nodeless/session-1")
        == "arn:aws:iam::123456789012:role/Nodeless"
    )
    assert (
        canonical_principal_arn("arn:aws:iam::123456789012:user/alice")
        == "arn:aws:iam::123456789012:user/alice"
    )
