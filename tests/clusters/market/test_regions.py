"""Every region the product offers is priced or refused: the cloud account form refuses a region
Nodeless has no prices for, naming the ones it has; a provisioning pass in an unpriced region never
raises, and its pods are reported pending with the reason."""

from __future__ import annotations

import pytest
from django.utils import timezone

from clusters.models import Cluster, ClusterConnection, ClusterMode, OnDemandPrice
from clusters.pricing.catalogs import market_catalog, priced_aws_regions
from clusters.regions import AWS_REGIONS
from engines.planner import Discount
from policies.provisioning_settings import planner_policy
from policies.selectors import built_in_settings
from tests.workers.provisioning.fakes import FakeCloud, FakeKube
from workers.provisioning.cluster_pass import run_pass
from workers.provisioning.context import ReconcileContext
from workers.provisioning.node_class import OpenNodeClass

pytestmark = pytest.mark.django_db

# The reference data prices these with their zones (data/README.md); the simulated Price List API
# serves the same files, so a refresh adds no region here: the other 21 are refused with a reason.
DATA_PRICED = ["ap-southeast-1", "eu-central-1", "eu-west-1", "us-east-1", "us-east-2", "us-west-2"]


def test_the_priced_regions_are_those_with_prices_and_zone_offerings() -> None:
    assert priced_aws_regions() == DATA_PRICED
    assert len(AWS_REGIONS) == 27
    # A price list for a region whose zones are unknown places nothing: still unpriced.
    OnDemandPrice.objects.create(
        region="us-gov-west-1", instance_type="m5.large", usd_per_hour=0.12, refreshed_at=timezone.now()
    )
    assert priced_aws_regions() == DATA_PRICED


def test_the_cloud_account_form_refuses_an_unpriced_region_with_the_reason(cast, owner_client) -> None:
    response = owner_client.post(
        "/api/v1/cloud-accounts/",
        {"role_arn": "arn:aws:iam::123456789012:role/x", "regions": ["us-east-1", "eu-west-3"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    (message,) = response.json()["error"]["fields"]["regions"]
    assert "no prices for eu-west-3" in message and "us-west-2" in message
    page = owner_client.post(
        "/clusters/connect/aws/", {"role_arn": "arn:aws:iam::123456789012:role/x", "regions": ["eu-west-3"]}
    )
    assert page.status_code == 200 and "no prices for eu-west-3" in page.content.decode()


def test_a_pass_in_an_unpriced_region_leaves_its_pods_pending_with_the_reason(cast) -> None:
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="paris",
        connection=ClusterConnection.EKS,
        eks_cluster_name="paris",
        region="eu-west-3",
        mode=ClusterMode.NODELESS,
    )
    settings = built_in_settings()
    kube, cloud = FakeKube(), FakeCloud()
    kube.add_pod("web", cpu="500m", memory="512Mi")
    context = ReconcileContext(
        cluster=cluster,
        settings=settings,
        policy=planner_policy(settings),
        policy_version="test",
        catalog=market_catalog("eu-west-3", Discount()),
        provider=cloud,
        kube=kube,
        now=timezone.now(),
        node_class=OpenNodeClass(),
    )
    report = run_pass(context)
    (reason,) = report.pending.values()
    assert "no instance type is priced in eu-west-3" in reason
    assert not cloud.instances
