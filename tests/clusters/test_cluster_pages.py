"""The cluster pages' figures: counts as whole numbers, vCPU and memory to one decimal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clusters.models import CloudAccount, ClusterObservation
from policies.models import Decision, DecisionKind
from tests.billing.ledger_builders import make_cluster, page_table
from tests.fixtures.pages import get_page, page_queries

pytestmark = pytest.mark.django_db

# What the probe stores: sums of floats, counts included ("4703.0 pods").
CAPACITY = {
    "allocatable": {"cpu": 1271.55, "memory_gib": 5120.256, "gpu": 81.0, "pods": 4703.0},
    "requested": {"cpu": 550.052, "memory_gib": 2047.95, "gpu": 64.0, "pods": 0.0},
}


def _count(value: float) -> str:
    return f"{round(value):,}"


def _amount(value: float) -> str:
    return f"{value:,.1f}"


@pytest.fixture
def busy(cast):
    return make_cluster(cast.org_a, "busy", capacity=CAPACITY, node_count=1234, pod_count=4321)


def test_the_capacity_table_shows_counts_whole_and_amounts_to_one_decimal(busy, owner_client) -> None:
    html = get_page(owner_client, reverse("cluster-detail", args=[busy.pk]), queries=8).content.decode()
    allocatable, requested = CAPACITY["allocatable"], CAPACITY["requested"]
    assert page_table(html, "cluster-capacity")[1:] == [
        ["vCPU", _amount(allocatable["cpu"]), _amount(requested["cpu"])],
        ["Memory (GiB)", _amount(allocatable["memory_gib"]), _amount(requested["memory_gib"])],
        ["GPUs", _count(allocatable["gpu"]), _count(requested["gpu"])],
        ["Pods", _count(allocatable["pods"]), _count(busy.pod_count)],
    ]
    assert f'<div class="value">{_count(busy.node_count)}</div>' in html
    assert f'<div class="value">{_count(busy.pod_count)}</div>' in html


def test_the_health_partial_and_the_cluster_list_format_alike(busy, owner_client) -> None:
    partial = get_page(owner_client, reverse("cluster-status", args=[busy.pk]), queries=7)
    assert page_table(partial.content.decode(), "cluster-capacity")[4] == [
        "Pods",
        _count(CAPACITY["allocatable"]["pods"]),
        _count(busy.pod_count),
    ]
    listing = get_page(owner_client, reverse("clusters"), queries=6).content.decode()
    row = next(row for row in page_table(listing, "cluster-list") if row and row[0] == "busy")
    assert row[5:8] == [
        _count(busy.node_count),
        _count(busy.pod_count),
        _amount(CAPACITY["allocatable"]["cpu"]),
    ]


def test_the_pods_panel_reads_the_kept_observation_and_says_how_old_it_is(busy, owner_client) -> None:
    url = reverse("cluster-activity", args=[busy.pk])
    assert "not observed yet" in get_page(owner_client, url, queries=11).content.decode()
    summary = {
        "pods": {"total": 3, "pending": 1},
        "pod_rows_total": 3,
        "pod_rows": [
            {
                "namespace": "shop",
                "name": "cart-1",
                "phase": "Pending",
                "node": "",
                "cpu_millis": 1500,
                "memory_mib": 3072,
                "reason": "0/3 nodes are available",
            }
        ],
    }
    ClusterObservation.objects.create(
        cluster=busy,
        organization=busy.organization,
        observed_at=timezone.now() - timedelta(minutes=3),
        summary=summary,
    )
    html = get_page(owner_client, url, queries=8).content.decode()
    assert "As observed 3\xa0minutes ago" in html
    assert page_table(html, "cluster-pod-table")[1][3:] == ["1.5", "3"]  # cores and GiB
    assert "Showing 1 of 3 pods" in html


def test_the_decisions_panel_shows_the_latest_decisions_of_the_cluster(busy, owner_client) -> None:
    Decision.objects.create(
        organization=busy.organization, cluster=busy, kind=DecisionKind.LAUNCH, reason="cheapest m5.large"
    )
    html = get_page(owner_client, reverse("cluster-decisions", args=[busy.pk]), queries=10).content.decode()
    assert "cheapest m5.large" in html and 'id="cluster-decisions"' in html


def _accounts_and_clusters(organization, first: int, last: int) -> None:
    """Clusters first..last-1, every other one reached through a cloud account of its own."""
    for index in range(first, last):
        account = CloudAccount.objects.create(
            organization=organization,
            name=f"account-{index}",
            account_id=f"{index:012d}",
            role_arn=f"arn:aws:iam::{index:012d}:role/NodelessControlPlane",
            regions=["us-east-1"],
        )
        make_cluster(
            organization,
            f"cluster-{index:02d}",
            cloud_account=account if index % 2 else None,
            labels={"i": index},
        )


@pytest.mark.parametrize("url", ["/clusters/", "/settings/cloud-accounts/"])
def test_the_cluster_and_account_lists_run_as_many_queries_for_twenty_rows_as_for_one(
    cast, owner_client, url
) -> None:
    _accounts_and_clusters(cast.org_a, 0, 1)
    one = page_queries(owner_client, url)
    _accounts_and_clusters(cast.org_a, 1, 20)
    assert page_queries(owner_client, url) == one


def test_the_settings_form_shows_the_name_and_labels_problems_at_once_and_keeps_them(
    busy, owner_client
) -> None:
    make_cluster(busy.organization, "taken")
    page = owner_client.post(
        f"/clusters/{busy.pk}/", {"name": "taken", "mode": busy.mode, "labels": "env=prod, team"}
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "A cluster named taken already exists" in html and "needs a value: write key=value." in html
    assert 'value="env=prod, team"' in html and 'value="taken"' in html
    busy.refresh_from_db()
    assert busy.name != "taken" and "team" not in busy.labels
