"""fill_then_burst: fill tier 1, overflow in tier order, come back without flapping."""

from __future__ import annotations

from engines.federation import (
    BurstSettings,
    ClusterSelector,
    ClusterSnapshot,
    CurrentPlacement,
    Outcome,
    PlacementPolicy,
    Strategy,
    WorkloadKind,
    schedule,
)
from tests.engines.federation.federation_builders import by_name, ids, observe_cluster, workload

ON_PREM_THEN_CLOUD = PlacementPolicy(
    Strategy.FILL_THEN_BURST,
    burst=BurstSettings(
        tiers=(ClusterSelector.equals(cloud="onprem"), ClusterSelector.equals(cloud="aws")),
        return_headroom=0.1,
        return_after_seconds=300,
    ),
)
LONG_AGO = 3600.0


def fleet(onprem_room: int, cloud_room: int = 100) -> list[ClusterSnapshot]:
    """On-prem has room for ``onprem_room`` one-core replicas and is the dearest per core:
    the tier order, not price, must put replicas there first."""
    return [
        observe_cluster(
            "dc1", cores=onprem_room, memory_gib=1000, core_hour=0.09, cloud="onprem", region="dc1"
        ),
        observe_cluster(
            "aws", cores=cloud_room, memory_gib=1000, core_hour=0.03, cloud="aws", region="us-east-1"
        ),
        observe_cluster("gcp", cores=500, memory_gib=1000, core_hour=0.01, cloud="gcp", region="us-central1"),
    ]


def test_fills_the_first_tier_before_bursting_to_the_next() -> None:
    result = schedule(workload(10), ON_PREM_THEN_CLOUD, fleet(onprem_room=6))
    assert by_name(dict(result.replicas)) == {"dc1": 6, "aws": 4}
    assert {score.cluster_name: score.note for score in result.decision.chosen} == {
        "dc1": "tier 1",
        "aws": "tier 2",
    }


def test_clusters_outside_every_tier_are_never_used() -> None:
    result = schedule(workload(200), ON_PREM_THEN_CLOUD, fleet(onprem_room=6, cloud_room=10))
    assert "gcp" not in by_name(dict(result.replicas))
    assert result.outcome is Outcome.PARTIAL


def test_replicas_move_back_when_the_first_tier_frees_up() -> None:
    # Before: on-prem was full with 6, 4 burst to aws. Now on-prem has room for 10 more.
    current = CurrentPlacement(ids(dc1=6, aws=4), seconds_since_change=LONG_AGO)
    result = schedule(workload(10), ON_PREM_THEN_CLOUD, fleet(onprem_room=10), current)
    assert by_name(dict(result.replicas)) == {"dc1": 10}
    assert result.changes() == {"id-dc1": 4, "id-aws": -4}
    assert "moved back" in result.decision.chosen[0].note


def test_return_keeps_headroom_in_the_first_tier_so_it_does_not_flap() -> None:
    # Room for 4 more, workload capacity there is 6 + 4 = 10, headroom max(1, 10%) = 1 -> move 3.
    current = CurrentPlacement(ids(dc1=6, aws=4), seconds_since_change=LONG_AGO)
    result = schedule(workload(10), ON_PREM_THEN_CLOUD, fleet(onprem_room=4), current)
    assert by_name(dict(result.replicas)) == {"dc1": 9, "aws": 1}
    # Next pass, with those 3 now running on-prem (room left: 1 = the headroom): nothing moves.
    again = schedule(
        workload(10),
        ON_PREM_THEN_CLOUD,
        fleet(onprem_room=1),
        CurrentPlacement(dict(result.replicas), seconds_since_change=LONG_AGO),
    )
    assert again.changes() == {}


def test_no_return_until_the_placement_has_been_stable_for_a_while() -> None:
    current = CurrentPlacement(ids(dc1=6, aws=4), seconds_since_change=60)
    result = schedule(workload(10), ON_PREM_THEN_CLOUD, fleet(onprem_room=10), current)
    assert result.changes() == {}


def test_jobs_are_not_moved_back_because_moving_restarts_their_work() -> None:
    current = CurrentPlacement(ids(dc1=6, aws=4), seconds_since_change=LONG_AGO)
    job = workload(10, kind=WorkloadKind.JOB)
    assert schedule(job, ON_PREM_THEN_CLOUD, fleet(onprem_room=10), current).changes() == {}


def test_scale_up_uses_freed_first_tier_room_before_bursting() -> None:
    current = CurrentPlacement(ids(dc1=6), seconds_since_change=0)
    result = schedule(workload(9), ON_PREM_THEN_CLOUD, fleet(onprem_room=2), current)
    assert by_name(dict(result.replicas)) == {"dc1": 8, "aws": 1}


def test_scale_down_removes_burst_replicas_first() -> None:
    current = CurrentPlacement(ids(dc1=6, aws=4), seconds_since_change=0)
    result = schedule(workload(7), ON_PREM_THEN_CLOUD, fleet(onprem_room=0), current)
    assert by_name(dict(result.replicas)) == {"dc1": 6, "aws": 1}


def test_no_cluster_in_any_tier_is_explained() -> None:
    clusters = [observe_cluster("gcp", cloud="gcp", region="us-central1")]
    result = schedule(workload(2), ON_PREM_THEN_CLOUD, clusters)
    assert result.outcome is Outcome.UNSCHEDULABLE
    assert (
        "no eligible cluster is in any burst tier (tiers: cloud=onprem; cloud=aws)" in result.decision.reason
    )


def test_sticky_keeps_first_tier_replicas_on_an_unreachable_site_and_bursts_only_the_rest() -> None:
    members = fleet(onprem_room=10)
    members[0] = observe_cluster(
        "dc1", cores=10, memory_gib=1000, cloud="onprem", region="dc1", reachable=False
    )
    current = CurrentPlacement(ids(dc1=6), seconds_since_change=LONG_AGO)
    result = schedule(workload(8), ON_PREM_THEN_CLOUD, members, current, keep_current=True)
    assert by_name(dict(result.replicas)) == {"dc1": 6, "aws": 2}
