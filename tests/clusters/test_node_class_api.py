"""The node class through the API: what was found is read-only, the node role, instance profile and
discovery tag are editable by admins, bad input is a 400 a person can act on, outsiders get 404."""

from __future__ import annotations

import pytest

from clusters.models import Cluster, ClusterConnection, ClusterMode, NodeClass
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(cast) -> Cluster:
    return Cluster.objects.create(
        organization=cast.org_a,
        name="eks-prod",
        connection=ClusterConnection.EKS,
        mode=ClusterMode.NODELESS,
        eks_cluster_name="prod",
        region="us-east-1",
    )


def test_the_node_class_is_read_before_anything_was_found(api_a, cluster) -> None:
    answer = api_a.get(f"/api/v1/clusters/{cluster.pk}/node-class/")
    assert answer.status_code == 200
    assert answer.json()["refreshed_at"] is None and answer.json()["launch_templates"] == []
    assert not NodeClass.objects.filter(cluster=cluster).exists()  # a GET writes nothing


def test_an_admin_sets_the_node_role_and_discovery_tag(api_a, cluster) -> None:
    answer = api_a.patch(
        f"/api/v1/clusters/{cluster.pk}/node-class/",
        {
            "node_role_arn": "arn:aws:iam::123456789012:role/MyNodes",
            "instance_profile": "MyNodes",
            "discovery_tag": "karpenter.sh/discovery=prod",
            "subnets": {"us-east-1a": "subnet-mine"},
        },
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (
        body["node_role_arn"].endswith(":role/MyNodes")
        and body["discovery_tag"] == "karpenter.sh/discovery=prod"
    )
    assert body["subnets"] == {}  # found in the account, never typed in
    assert AuditEvent.objects.filter(organization=cluster.organization, action="cluster.node_class").exists()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("node_role_arn", "arn:aws:iam::123:role/x", "An IAM role ARN"),
        ("discovery_tag", "no-value", "key=value"),
        ("instance_profile", "has spaces", "instance profile name"),
    ],
)
def test_bad_input_is_refused_with_what_to_type(api_a, cluster, field, value, says) -> None:
    answer = api_a.patch(f"/api/v1/clusters/{cluster.pk}/node-class/", {field: value}, format="json")
    assert answer.status_code == 400
    assert says in str(answer.json())


def test_an_outsider_gets_404(api_b, cluster) -> None:
    assert api_b.get(f"/api/v1/clusters/{cluster.pk}/node-class/").status_code == 404
    answer = api_b.patch(
        f"/api/v1/clusters/{cluster.pk}/node-class/", {"discovery_tag": "a=b"}, format="json"
    )
    assert answer.status_code == 404
