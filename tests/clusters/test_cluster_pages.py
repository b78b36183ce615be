"""The cluster pages' figures: counts as whole numbers, vCPU and memory to one decimal."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.billing.ledger_builders import make_cluster, page_table

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
    html = owner_client.get(reverse("cluster-detail", args=[busy.pk])).content.decode()
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
    partial = owner_client.get(reverse("cluster-detail", args=[busy.pk]), HTTP_HX_REQUEST="true")
    assert page_table(partial.content.decode(), "cluster-capacity")[4] == [
        "Pods",
        _count(CAPACITY["allocatable"]["pods"]),
        _count(busy.pod_count),
    ]
    listing = owner_client.get(reverse("clusters")).content.decode()
    row = next(row for row in page_table(listing, "cluster-list") if row and row[0] == "busy")
    assert row[5:8] == [
        _count(busy.node_count),
        _count(busy.pod_count),
        _amount(CAPACITY["allocatable"]["cpu"]),
    ]
