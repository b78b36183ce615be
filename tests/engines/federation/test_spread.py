"""spread: static and capacity weights, topology domains, min/max groups, steady scaling."""

from __future__ import annotations

from engines.federation import (
    AssignmentMode,
    ClusterSelector,
    ClusterSnapshot,
    Outcome,
    PlacementPolicy,
    SpreadBy,
    SpreadSettings,
    Strategy,
    WeightMode,
    WeightRule,
    schedule,
)
from tests.engines.federation.federation_builders import by_name, ids, observe_cluster, workload


def capacity_spread(**settings: object) -> PlacementPolicy:
    return PlacementPolicy(Strategy.SPREAD, spread=SpreadSettings(weights=WeightMode.CAPACITY, **settings))  # type: ignore[arg-type]


def static_spread(*rules: WeightRule, **settings: object) -> PlacementPolicy:
    spread = SpreadSettings(weights=WeightMode.STATIC, static_weights=rules, **settings)  # type: ignore[arg-type]
    return PlacementPolicy(Strategy.SPREAD, spread=spread)


def room_for(replicas: int, name: str, **labels: str) -> ClusterSnapshot:
    """A cluster with room for exactly ``replicas`` one-core replicas."""
    return observe_cluster(name, cores=replicas, memory_gib=1000, labels=labels)


def test_capacity_weights_reproduce_karmada_documented_example() -> None:
    clusters = [room_for(6, "a"), room_for(12, "b"), room_for(18, "c")]
    result = schedule(workload(12), capacity_spread(), clusters)
    assert by_name(dict(result.replicas)) == {"a": 2, "b": 4, "c": 6}


def test_static_weights_reproduce_karmada_documented_examples() -> None:
    clusters = [observe_cluster("a"), observe_cluster("b")]
    one_to_two = static_spread(
        WeightRule(1, cluster_names=frozenset({"a"})), WeightRule(2, cluster_names=frozenset({"b"}))
    )
    one_to_three = static_spread(
        WeightRule(1, cluster_names=frozenset({"a"})), WeightRule(3, cluster_names=frozenset({"b"}))
    )
    assert by_name(dict(schedule(workload(9), one_to_two, clusters).replicas)) == {"a": 3, "b": 6}
    assert by_name(dict(schedule(workload(9), one_to_three, clusters).replicas)) == {"a": 2, "b": 7}


def test_static_weights_by_label_take_the_largest_matching_rule_and_skip_zero() -> None:
    clusters = [
        observe_cluster("use1", region="us-east-1", env="prod"),
        observe_cluster("euw1", region="eu-west-1", env="prod"),
        observe_cluster("lab", region="us-east-1", env="lab"),
    ]
    policy = static_spread(
        WeightRule(1, selector=ClusterSelector.equals(env="prod")),
        WeightRule(3, selector=ClusterSelector.equals(region="us-east-1", env="prod")),
        WeightRule(0, cluster_names=frozenset({"lab"})),
    )
    assert by_name(dict(schedule(workload(8), policy, clusters).replicas)) == {"use1": 6, "euw1": 2}


def test_scaling_up_with_static_weights_never_takes_replicas_from_a_cluster() -> None:
    clusters = [observe_cluster("a"), observe_cluster("b"), observe_cluster("c")]
    policy = static_spread(
        WeightRule(5, cluster_names=frozenset({"a"})),
        WeightRule(3, cluster_names=frozenset({"b"})),
        WeightRule(1, cluster_names=frozenset({"c"})),
    )
    current: dict[str, int] = {}
    for replicas in range(1, 30):
        result = schedule(workload(replicas), policy, clusters, current)
        assert all(result.replicas.get(cluster, 0) >= count for cluster, count in current.items())
        current = dict(result.replicas)


def test_capacity_scale_up_divides_only_the_new_replicas_by_free_room() -> None:
    # Running 2/4/6; free room is now 10/0/10 more, so the 4 new replicas go 2/0/2.
    clusters = [room_for(10, "a"), room_for(0, "b"), room_for(10, "c")]
    result = schedule(workload(16), capacity_spread(), clusters, ids(a=2, b=4, c=6))
    assert by_name(dict(result.replicas)) == {"a": 4, "b": 4, "c": 8}


def test_capacity_scale_down_shrinks_proportionally_to_current_counts() -> None:
    clusters = [room_for(10, "a"), room_for(10, "b"), room_for(10, "c")]
    result = schedule(workload(6), capacity_spread(), clusters, ids(a=2, b=4, c=6))
    assert by_name(dict(result.replicas)) == {"a": 1, "b": 2, "c": 3}


def test_spread_by_region_uses_one_cluster_per_region_up_to_max_groups() -> None:
    clusters = [
        room_for(50, "use1-a", region="us-east-1"),
        room_for(80, "use1-b", region="us-east-1"),
        room_for(30, "euw1-a", region="eu-west-1"),
        room_for(10, "apse1-a", region="ap-southeast-1"),
    ]
    result = schedule(
        workload(6), capacity_spread(spread_by=SpreadBy.REGION, min_groups=2, max_groups=2), clusters
    )
    assert set(by_name(dict(result.replicas))) == {"use1-b", "euw1-a"}
    assert sum(result.replicas.values()) == 6
    assert {score.note for score in result.decision.chosen} == {"region us-east-1", "region eu-west-1"}


def test_spread_by_region_keeps_the_regions_already_running_the_workload() -> None:
    clusters = [
        room_for(50, "use1", region="us-east-1"),
        room_for(80, "usw2", region="us-west-2"),
        room_for(5, "euw1", region="eu-west-1"),
    ]
    policy = capacity_spread(spread_by=SpreadBy.REGION, min_groups=2, max_groups=2)
    result = schedule(workload(6), policy, clusters, ids(use1=3, euw1=3))
    assert by_name(dict(result.replicas)) == {"use1": 3, "euw1": 3}


def test_too_few_domains_for_min_groups_is_unschedulable_with_a_reason() -> None:
    clusters = [room_for(50, "a", region="us-east-1"), room_for(50, "b", region="us-east-1")]
    result = schedule(workload(4), capacity_spread(spread_by=SpreadBy.REGION, min_groups=2), clusters)
    assert result.outcome is Outcome.UNSCHEDULABLE
    assert "spread needs at least 2 regions with room for a replica, found 1" in result.decision.reason


def test_spread_by_cluster_respects_max_groups_and_prefers_room() -> None:
    clusters = [room_for(5, "a"), room_for(50, "b"), room_for(20, "c")]
    result = schedule(workload(7), capacity_spread(max_groups=2), clusters)
    assert set(by_name(dict(result.replicas))) == {"b", "c"}


def test_capacity_limits_each_cluster_and_the_shortfall_is_reported() -> None:
    clusters = [room_for(2, "a"), room_for(3, "b")]
    result = schedule(workload(9), capacity_spread(), clusters)
    assert by_name(dict(result.replicas)) == {"a": 2, "b": 3}
    assert result.unplaced == 4
    assert result.outcome is Outcome.PARTIAL
    assert "4 of 9 replicas found no room" in result.decision.reason


def test_weights_are_capped_at_each_clusters_room() -> None:
    clusters = [observe_cluster("a", cores=2), observe_cluster("b")]
    policy = static_spread(
        WeightRule(9, cluster_names=frozenset({"a"})), WeightRule(1, cluster_names=frozenset({"b"}))
    )
    assert by_name(dict(schedule(workload(10), policy, clusters).replicas)) == {"a": 2, "b": 8}


def test_fresh_capacity_spread_rebalances_the_whole_count_by_room_plus_running() -> None:
    # All 9 run on a (room for 3 more: 12 in all); b has room for 24. A rebalance splits 12:24.
    clusters = [room_for(3, "a"), room_for(24, "b")]
    result = schedule(workload(9), capacity_spread(), clusters, ids(a=9), mode=AssignmentMode.FRESH)
    assert by_name(dict(result.replicas)) == {"a": 3, "b": 6}
    steady = schedule(workload(9), capacity_spread(), clusters, ids(a=9))
    assert by_name(dict(steady.replicas)) == {"a": 9}


def test_remainders_land_on_different_clusters_across_workloads_but_stably_per_workload() -> None:
    # Equal weights, 3 replicas on 2 clusters: who gets the odd one is a tie (karmada#4220).
    clusters = [observe_cluster("a"), observe_cluster("b")]
    policy = capacity_spread()
    winners = set()
    for number in range(20):
        spec = workload(3, workload_id=f"team/api-{number}")
        first = dict(schedule(spec, policy, clusters).replicas)
        assert dict(schedule(spec, policy, clusters).replicas) == first
        winners.add(max(first, key=first.__getitem__))
    assert winners == {"id-a", "id-b"}


def test_static_weights_keep_replicas_where_they_run_when_only_room_changes() -> None:
    # Equal static weights over regions: each pass re-apportions from scratch. When a region that
    # runs nothing gets a new best cluster, name order alone would hand it a running replica.
    policy = static_spread(WeightRule(1, selector=ClusterSelector()), spread_by=SpreadBy.REGION, min_groups=2)
    before = [
        room_for(10, "m1", region="a"),
        room_for(10, "m5", region="b"),
        room_for(10, "m7", region="c"),
        room_for(5, "m0", region="c"),
    ]
    first = schedule(workload(2, workload_id="w-asc"), policy, before)
    assert by_name(dict(first.replicas)) == {"m1": 1, "m5": 1}
    # m0 becomes region c's roomiest cluster; its name sorts before every other.
    after = [*before[:3], room_for(40, "m0", region="c")]
    second = schedule(workload(2, workload_id="w-asc"), policy, after, dict(first.replicas))
    assert dict(second.replicas) == dict(first.replicas)
