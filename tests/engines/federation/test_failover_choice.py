"""Unhealthy and unreachable members: reschedule, sticky hold, avoid, and recovery without duplicates."""

from __future__ import annotations

from dataclasses import replace

from engines.federation import Outcome, PlacementPolicy, SpreadSettings, Strategy, schedule
from tests.engines.federation.federation_builders import by_name, ids, observe_cluster, workload

SPREAD = PlacementPolicy(Strategy.SPREAD, spread=SpreadSettings())


def members(*, b_reachable: bool = True, b_healthy: bool = True) -> list:
    return [
        observe_cluster("a", cores=20, memory_gib=1000),
        observe_cluster("b", cores=20, memory_gib=1000, reachable=b_reachable, healthy=b_healthy),
        observe_cluster("c", cores=20, memory_gib=1000),
    ]


def test_replicas_on_an_unreachable_member_are_placed_elsewhere() -> None:
    before = ids(a=2, b=2, c=2)
    result = schedule(workload(6), SPREAD, members(b_reachable=False), before)
    assert "b" not in by_name(dict(result.replicas))
    assert sum(result.replicas.values()) == 6
    assert result.replicas["id-a"] >= 2 and result.replicas["id-c"] >= 2
    assert "replaced 2 replicas from clusters no longer usable (b unreachable)" in result.decision.reason


def test_keep_current_holds_replicas_on_an_unreachable_member_within_the_grace_period() -> None:
    before = ids(a=2, b=2, c=2)
    result = schedule(workload(6), SPREAD, members(b_reachable=False), before, keep_current=True)
    assert by_name(dict(result.replicas)) == {"a": 2, "b": 2, "c": 2}
    held = next(score for score in result.decision.chosen if score.cluster_name == "b")
    assert held.note == "kept while unreachable"


def test_held_replicas_are_never_grown_on_a_member_nobody_can_see() -> None:
    result = schedule(workload(9), SPREAD, members(b_reachable=False), ids(a=2, b=2, c=2), keep_current=True)
    assert result.replicas["id-b"] == 2
    assert sum(result.replicas.values()) == 9


def test_avoided_member_loses_its_replicas_even_when_healthy() -> None:
    # A placement failing repeatedly: the loop asks the engine to avoid that cluster.
    result = schedule(workload(6), SPREAD, members(), ids(a=2, b=2, c=2), avoid={"b"})
    assert "id-b" not in result.replicas
    assert sum(result.replicas.values()) == 6
    assert dict(result.decision.filtered)["avoided by the federation loop"] == 1


def test_member_coming_back_gets_no_duplicate_replicas() -> None:
    failed_over = schedule(workload(6), SPREAD, members(b_reachable=False), ids(a=2, b=2, c=2))
    # The loop applied the move and deleted the copies on b; b is back and healthy now.
    recovered = schedule(workload(6), SPREAD, members(), dict(failed_over.replicas))
    assert dict(recovered.replicas) == dict(failed_over.replicas)
    assert sum(recovered.replicas.values()) == 6


def test_every_member_down_is_unschedulable_and_says_why() -> None:
    clusters = [replace(cluster, reachable=False) for cluster in members()]
    result = schedule(workload(3), SPREAD, clusters)
    assert result.outcome is Outcome.UNSCHEDULABLE
    assert result.decision.reason == (
        "spread: none of the 3 clusters can run a deployment: a unreachable, b unreachable, c unreachable"
    )
