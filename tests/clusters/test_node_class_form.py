"""The node class is editable on the cluster page: the same checks as the API's PATCH, every error
shown at once with what was typed kept; the root volume size is one of its fields (validated the
same way through the API)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clusters.models import Cluster, ClusterConnection, ClusterMode, NodeClass
from tenants.models import AuditEvent
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db
PAGE_QUERIES = 30


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


def test_the_cluster_page_has_the_node_class_form_filled_in(owner_client, cluster) -> None:
    NodeClass.objects.create(cluster=cluster, discovery_tag="karpenter.sh/discovery=prod", root_volume_gib=80)
    page = get_page(owner_client, reverse("cluster-detail", args=[cluster.pk]), queries=PAGE_QUERIES)
    html = page.content.decode()
    assert 'id="node-class-form"' in html
    assert 'value="karpenter.sh/discovery=prod"' in html and 'value="80"' in html


def test_bad_input_shows_every_error_at_once_and_keeps_what_was_typed(owner_client, cluster) -> None:
    typed = {
        "node_role_arn": "arn:aws:iam::123:role/x",
        "instance_profile": "has spaces",
        "discovery_tag": "no-value",
        "root_volume_gib": "8",
    }
    response = owner_client.post(reverse("cluster-node-class", args=[cluster.pk]), typed)
    assert response.status_code == 400
    html = response.content.decode()
    for says in (
        "An IAM role ARN",
        "instance profile name",
        "A tag as key=value",
        "A root volume of 20 to 16384",
    ):
        assert says in html, says
    for value in typed.values():
        assert f'value="{value}"' in html
    assert not NodeClass.objects.filter(cluster=cluster, discovery_tag="no-value").exists()

    words = owner_client.post(reverse("cluster-node-class", args=[cluster.pk]), {"root_volume_gib": "lots"})
    assert words.status_code == 400 and "A root volume of 20 to 16384" in words.content.decode()


def test_an_admin_saves_the_node_class_from_the_page(owner_client, cluster) -> None:
    response = owner_client.post(
        reverse("cluster-node-class", args=[cluster.pk]),
        {
            "node_role_arn": "arn:aws:iam::123456789012:role/MyNodes",
            "instance_profile": "MyNodes",
            "discovery_tag": "karpenter.sh/discovery=prod",
            "root_volume_gib": "100",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "cluster-detail", args=[cluster.pk]
    )
    node_class = NodeClass.objects.get(cluster=cluster)
    assert node_class.root_volume_gib == 100 and node_class.instance_profile == "MyNodes"
    assert AuditEvent.objects.filter(organization=cluster.organization, action="cluster.node_class").exists()
    # Emptied: sized per instance type again.
    owner_client.post(reverse("cluster-node-class", args=[cluster.pk]), {"root_volume_gib": ""})
    node_class.refresh_from_db()
    assert node_class.root_volume_gib is None


def test_a_viewer_may_not_change_it_and_an_outsider_does_not_find_it(
    viewer_client, outsider_client, cluster
) -> None:
    url = reverse("cluster-node-class", args=[cluster.pk])
    assert viewer_client.post(url, {"discovery_tag": "a=b"}).status_code == 403
    assert outsider_client.post(url, {"discovery_tag": "a=b"}).status_code == 404
    assert not NodeClass.objects.filter(cluster=cluster, discovery_tag="a=b").exists()


@pytest.mark.parametrize(
    ("value", "status", "stored"), [(100, 200, 100), (19, 400, None), (20000, 400, None), (None, 200, None)]
)
def test_the_api_checks_the_root_volume_the_same_way(api_a, cluster, value, status, stored) -> None:
    answer = api_a.patch(
        f"/api/v1/clusters/{cluster.pk}/node-class/", {"root_volume_gib": value}, format="json"
    )
    assert answer.status_code == status, answer.json()
    if status == 400:
        assert "A root volume of 20 to 16384" in str(answer.json())
    assert (
        NodeClass.objects.filter(cluster=cluster).values_list("root_volume_gib", flat=True).first() == stored
    )
