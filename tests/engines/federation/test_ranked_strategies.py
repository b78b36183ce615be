"""cheapest, most_capacity, duplicate and pinned: choice, spill, steady changes and the record."""

from __future__ import annotations

import json

import pytest

from engines.federation import (
    AssignmentMode,
    ClusterSelector,
    Fleet,
    Outcome,
    PlacementPolicy,
    Strategy,
    schedule,
)
from tests.engines.federation.federation_builders import (
    by_name,
    ids,
    nodeless_cluster,
    observe_cluster,
    shape,
    workload,
)

CHEAPEST = PlacementPolicy(Strategy.CHEAPEST)
MOST_CAPACITY = PlacementPolicy(Strategy.MOST_CAPACITY)


def test_cheapest_prices_a_nodeless_cluster_by_its_cheapest_packing() -> None:
    # 4 replicas of 2 cores / 7 GiB: one 8-core node ($0.30) beats four 2-core nodes ($0.40),
    # and both beat the observe cluster's rates (4 × (2 × 0.04 + 7 × 0.005) = $0.46).
    nodeless = nodeless_cluster("nodeless", shapes=(shape("small", 2, 8, 0.10), shape("large", 8, 32, 0.30)))
    observe = observe_cluster("observe", core_hour=0.04, gib_hour=0.005)
    result = schedule(workload(4, cpu=2, memory_gib=7), CHEAPEST, [observe, nodeless])
    assert by_name(dict(result.replicas)) == {"nodeless": 4}
    chosen = result.decision.chosen[0]
    assert chosen.price_per_hour == pytest.approx(0.30)
    assert result.decision.runner_ups[0].price_per_hour == pytest.approx(0.46)


def test_cheapest_spills_to_the_next_cheapest_when_capacity_runs_out() -> None:
    clusters = [
        observe_cluster("cheap", cores=3, core_hour=0.02),
        observe_cluster("middle", cores=100, core_hour=0.03),
        observe_cluster("dear", cores=100, core_hour=0.05),
    ]
    result = schedule(workload(5), CHEAPEST, clusters)
    assert by_name(dict(result.replicas)) == {"cheap": 3, "middle": 2}
    assert [score.cluster_name for score in result.decision.chosen] == ["cheap", "middle"]
    assert result.outcome is Outcome.PLACED


def test_most_capacity_puts_everything_in_the_roomiest_cluster() -> None:
    clusters = [
        observe_cluster("small", cores=10),
        observe_cluster("big", cores=80),
        observe_cluster("mid", cores=40),
    ]
    result = schedule(workload(6), MOST_CAPACITY, clusters)
    assert by_name(dict(result.replicas)) == {"big": 6}
    assert [score.cluster_name for score in result.decision.runner_ups] == ["mid", "small"]


def test_steady_scale_up_keeps_running_replicas_and_places_only_the_new_ones() -> None:
    clusters = [observe_cluster("a", core_hour=0.05), observe_cluster("b", core_hour=0.02)]
    # Running on the dearer cluster: scaling up adds on the cheapest, never moves the old ones.
    result = schedule(workload(5), CHEAPEST, clusters, ids(a=3))
    assert by_name(dict(result.replicas)) == {"a": 3, "b": 2}
    assert result.changes() == {"id-b": 2}


def test_steady_scale_down_only_removes_starting_with_the_worst_ranked() -> None:
    clusters = [observe_cluster("a", core_hour=0.05), observe_cluster("b", core_hour=0.02)]
    result = schedule(workload(4), CHEAPEST, clusters, ids(a=3, b=3))
    assert by_name(dict(result.replicas)) == {"a": 1, "b": 3}
    assert result.changes() == {"id-a": -2}


def test_fresh_rebalance_moves_only_for_a_gain_larger_than_stickiness() -> None:
    slightly_cheaper = [observe_cluster("a", core_hour=0.040), observe_cluster("b", core_hour=0.038)]
    much_cheaper = [observe_cluster("a", core_hour=0.040), observe_cluster("b", core_hour=0.020)]
    policy = PlacementPolicy(Strategy.CHEAPEST, stickiness=0.1)
    stay = schedule(workload(3), policy, slightly_cheaper, ids(a=3), mode=AssignmentMode.FRESH)
    move = schedule(workload(3), policy, much_cheaper, ids(a=3), mode=AssignmentMode.FRESH)
    assert by_name(dict(stay.replicas)) == {"a": 3}
    assert by_name(dict(move.replicas)) == {"b": 3}


def test_duplicate_runs_a_full_copy_everywhere_it_fits_and_says_where_it_did_not() -> None:
    clusters = [observe_cluster("a"), observe_cluster("b"), observe_cluster("tiny", cores=2)]
    result = schedule(workload(4), PlacementPolicy(Strategy.DUPLICATE), clusters)
    assert by_name(dict(result.replicas)) == {"a": 4, "b": 4}
    assert result.unplaced == 0
    assert [(score.cluster_name, score.available_replicas) for score in result.decision.runner_ups] == [
        ("tiny", 2)
    ]


def test_pinned_divides_evenly_over_the_named_clusters_only() -> None:
    clusters = [observe_cluster("a", core_hour=0.01), observe_cluster("b"), observe_cluster("c")]
    result = schedule(
        workload(5, workload_id="w"), PlacementPolicy(Strategy.PINNED, pinned=("b", "id-c")), clusters
    )
    assert set(by_name(dict(result.replicas))) == {"b", "c"}
    assert sorted(result.replicas.values()) == [2, 3]
    assert all(score.cluster_name in {"b", "c"} for score in result.decision.runner_ups)


def test_scaling_to_zero_removes_every_replica() -> None:
    clusters = [observe_cluster("a"), observe_cluster("b")]
    result = schedule(workload(0), CHEAPEST, clusters, ids(a=2, b=1))
    assert dict(result.replicas) == {}
    assert result.changes() == {"id-a": -2, "id-b": -1}
    assert result.outcome is Outcome.PLACED


def test_decision_records_scores_runner_ups_filters_and_a_reason() -> None:
    clusters = [
        observe_cluster("prod-a", core_hour=0.03, env="prod"),
        observe_cluster("prod-b", core_hour=0.04, env="prod"),
        observe_cluster("prod-c", core_hour=0.05, env="prod", reachable=False),
        observe_cluster("stage", core_hour=0.01, env="staging"),
    ]
    policy = PlacementPolicy(Strategy.CHEAPEST, selector=ClusterSelector.equals(env="prod"))
    decision = schedule(workload(2), policy, clusters).decision
    assert [score.cluster_name for score in decision.chosen] == ["prod-a"]
    assert decision.chosen[0].score == pytest.approx(2 * (0.03 + 0.004) / 2)
    assert decision.runner_ups[0].score == pytest.approx(0.04 + 0.004)
    assert [score.cluster_name for score in decision.runner_ups] == ["prod-b"]
    assert dict(decision.filtered) == {"does not match the cluster selector": 1, "unreachable": 1}
    assert decision.candidate_count == 2
    assert decision.reason.startswith("cheapest: 2 on prod-a")
    assert "runner-up prod-b" in decision.reason


def test_charging_the_fleet_stops_decisions_piling_onto_the_same_free_slots() -> None:
    fleet = Fleet([observe_cluster("cheap", cores=4, core_hour=0.02), observe_cluster("dear", cores=40)])
    first_workload = workload(4, workload_id="first")
    first = schedule(first_workload, CHEAPEST, fleet)
    fleet = fleet.charge(first.changes(), first_workload.requests)
    second = schedule(workload(4, workload_id="second"), CHEAPEST, fleet)
    assert by_name(dict(first.replicas)) == {"cheap": 4}
    assert by_name(dict(second.replicas)) == {"dear": 4}


def test_removing_replicas_gives_their_room_back_to_the_fleet() -> None:
    fleet = Fleet([observe_cluster("only", cores=4)])
    spec = workload(4)
    full = fleet.charge({"id-only": 4}, spec.requests)
    assert schedule(spec, CHEAPEST, full).outcome is Outcome.UNSCHEDULABLE
    freed = full.charge({"id-only": -4}, spec.requests)
    assert by_name(dict(schedule(spec, CHEAPEST, freed).replicas)) == {"only": 4}


def test_the_decision_record_serialises_to_strict_json() -> None:
    # A held cluster (unreachable, kept) and a running cluster with no room left have no score.
    clusters = [
        observe_cluster("full", cores=0),
        observe_cluster("gone", reachable=False),
        observe_cluster("c"),
    ]
    result = schedule(workload(6), CHEAPEST, clusters, ids(full=2, gone=2), keep_current=True)
    assert by_name(dict(result.replicas)) == {"full": 2, "gone": 2, "c": 2}
    record = json.loads(json.dumps(result.decision.as_dict(), allow_nan=False))
    assert record["strategy"] == "cheapest"
    scores = {entry["cluster_name"]: entry["score"] for entry in record["chosen"]}
    assert scores["gone"] is None and scores["full"] is None and scores["c"] is not None


def test_runner_up_count_is_configurable() -> None:
    clusters = [
        observe_cluster(name, core_hour=rate) for name, rate in (("a", 0.01), ("b", 0.02), ("c", 0.03))
    ]
    assert len(schedule(workload(1), CHEAPEST, clusters, runner_ups=1).decision.runner_ups) == 1
    assert len(schedule(workload(1), CHEAPEST, clusters, runner_ups=0).decision.runner_ups) == 0
