"""Burst to the cloud and back, and what happens when a member cluster fails: real simulated
clusters, a real network partition between the product and a member."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from policies.models import DecisionKind, PlacementState, WorkloadStatus
from tests.fixtures.federation import deployment, fresh, placements, pool, settle, submit
from workers.federation import run_pass

pytestmark = pytest.mark.django_db

ONPREM = {"cloud": "onprem", "region": "dc-east"}
AWS = {"cloud": "aws", "region": "us-east-1"}


def _blocker(member, cpu: str) -> None:
    """Someone else's Deployment in the member, holding ``cpu`` of its capacity."""
    member.apps.create_namespaced_deployment(
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "blocker"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "blocker"}},
                "template": {
                    "metadata": {"labels": {"app": "blocker"}},
                    "spec": {
                        "containers": [{"name": "b", "image": "x", "resources": {"requests": {"cpu": cpu}}}]
                    },
                },
            },
        },
    )


def test_fill_then_burst_overflows_to_the_cloud_and_returns_when_on_prem_frees(cast, member, policy) -> None:
    onprem = member("onprem", ONPREM, pools=(pool(1, "", cpu=4, memory_mib=16384),))
    cloud = member("aws", AWS, pools=(pool(2),))
    _blocker(onprem, "2")
    tiers = {"tiers": ["cloud=onprem", "cloud=aws"], "return_headroom": 0, "return_after_seconds": 0}
    burst = policy("burst", strategy="fill_then_burst", burst=tiers)
    workload = submit(cast, deployment(replicas=3, cpu="1", memory="512Mi"), burst)

    settle(cast, lambda: fresh(workload).status == WorkloadStatus.RUNNING)
    assert placements(fresh(workload)) == {"onprem": 2, "aws": 1}

    onprem.apps.delete_namespaced_deployment("blocker", "default")
    settle(
        cast,
        lambda: (
            placements(fresh(workload)) == {"onprem": 3} and cloud.deployment_replicas("shop", "web") is None
        ),
    )

    settle(cast, lambda: onprem.running_pods("shop", workload) == 3)
    assert cloud.running_pods("shop", workload) == 0
    assert "moved back" in " ".join(str(d.chosen) for d in fresh(workload).decisions.all())


@pytest.fixture
def two_members(member):
    return (
        member("primary", ONPREM, pools=(pool(1, "", cpu=8, memory_mib=16384),)),
        member("standby", AWS, pools=(pool(2),)),
    )


def test_an_unreachable_member_loses_its_replicas_one_pass_after_the_grace_period(
    cast, two_members, policy
) -> None:
    primary, standby = two_members
    cheapest = policy("cheap", strategy="cheapest", on_failure="reschedule", grace_period_seconds=60)
    workload = submit(cast, deployment(replicas=2), cheapest)
    settle(cast, lambda: fresh(workload).status == WorkloadStatus.RUNNING)
    assert placements(fresh(workload)) == {"primary": 2}

    primary.link.cut()
    cut_at = timezone.now()
    run_pass(str(cast.org_a.pk), now=cut_at)
    held = fresh(workload)
    assert placements(held) == {"primary": 2}
    assert held.status == WorkloadStatus.DEGRADED and "grace period" in held.status_message
    run_pass(str(cast.org_a.pk), now=cut_at + timedelta(seconds=59))
    assert placements(fresh(workload)) == {"primary": 2}

    run_pass(str(cast.org_a.pk), now=cut_at + timedelta(seconds=61))

    moved = fresh(workload)
    assert placements(moved) == {"standby": 2}
    assert moved.decisions.filter(kind=DecisionKind.FAILOVER).exists()
    assert moved.placements.get(cluster=primary.cluster).state == PlacementState.REMOVING
    settle(cast, lambda: standby.running_pods("shop", workload) == 2)


def test_a_member_that_comes_back_keeps_no_duplicate(cast, two_members, policy) -> None:
    primary, standby = two_members
    cheapest = policy("cheap", strategy="cheapest", on_failure="reschedule", grace_period_seconds=0)
    workload = submit(cast, deployment(replicas=2), cheapest)
    settle(cast, lambda: primary.running_pods("shop", workload) == 2)
    primary.link.cut()
    settle(cast, lambda: standby.running_pods("shop", workload) == 2)
    assert primary.running_pods("shop", workload) == 2  # partitioned, not dead: it still runs them

    primary.link.heal()
    settle(cast, lambda: primary.deployment_replicas("shop", "web") is None)

    assert primary.running_pods("shop", workload) == 0
    assert placements(fresh(workload)) == {"standby": 2}
    assert not fresh(workload).placements.filter(cluster=primary.cluster).exists()
    assert fresh(workload).status == WorkloadStatus.RUNNING


def test_sticky_keeps_replicas_on_an_unreachable_member(cast, two_members, policy) -> None:
    primary, standby = two_members
    sticky = policy("stay", strategy="cheapest", on_failure="sticky", grace_period_seconds=0)
    workload = submit(cast, deployment(replicas=2), sticky)
    settle(cast, lambda: fresh(workload).status == WorkloadStatus.RUNNING)

    primary.link.cut()
    run_pass(str(cast.org_a.pk), now=timezone.now() + timedelta(hours=1))

    kept = fresh(workload)
    assert placements(kept) == {"primary": 2} and standby.deployment_replicas("shop", "web") is None
    assert kept.status == WorkloadStatus.DEGRADED and "sticky" in kept.status_message
    primary.link.heal()
    settle(cast, lambda: fresh(workload).status == WorkloadStatus.RUNNING)


def test_a_placement_failing_repeatedly_moves_to_another_cluster(cast, member, policy) -> None:
    """The cheaper member has no node the pods may use (node selector): the pods never schedule
    there, the placement fails pass after pass, and the replicas move."""
    no_ssd = member("no-ssd", ONPREM, pools=(pool(1, "", cpu=8, memory_mib=16384),))
    ssd = member("ssd", AWS, pools=(pool(2, labels={"disktype": "ssd"}),))
    cheapest = policy("cheap", strategy="cheapest", on_failure="reschedule", grace_period_seconds=0)
    manifest = deployment(replicas=2)
    manifest = manifest.replace(
        "      containers:", "      nodeSelector:\n        disktype: ssd\n      containers:"
    )
    workload = submit(cast, manifest, cheapest)

    settle(cast, lambda: placements(fresh(workload)) == {"ssd": 2})
    settle(cast, lambda: ssd.running_pods("shop", workload) == 2)

    moved = fresh(workload)
    assert moved.decisions.filter(kind=DecisionKind.FAILOVER).exists()
    assert str(no_ssd.cluster.pk) in moved.avoid_clusters
