"""A nodeless cluster's room for a workload: bounded by the workload's replicas and by what the
snapshot (its provisioning limits) allows, so decisions weigh and show real numbers."""

from __future__ import annotations

from engines.federation import PlacementPolicy, SpreadSettings, Strategy, WeightMode, schedule
from tests.engines.federation.federation_builders import by_name, nodeless_cluster, observe_cluster, workload

UNLIMITED = 1 << 40


def capacity_spread(**settings: object) -> PlacementPolicy:
    return PlacementPolicy(Strategy.SPREAD, spread=SpreadSettings(weights=WeightMode.CAPACITY, **settings))  # type: ignore[arg-type]


def test_an_unlimited_nodeless_cluster_does_not_take_every_replica_of_a_spread() -> None:
    # Issue 16: "spread over 2 clusters" put 6/6 on the nodeless cluster, whose room counted as
    # unlimited (its capacity weight showed as 1048576, its room as 134217726).
    clusters = [
        nodeless_cluster("nodeless", cores=UNLIMITED / 1000, memory_gib=UNLIMITED / 1024),
        observe_cluster("onprem", cores=12, memory_gib=64),
    ]
    result = schedule(workload(6), capacity_spread(max_groups=2), clusters)
    # Weights 6 (all it needs) and 12 (what the on-prem nodes have free): Webster gives 2 and 4.
    assert by_name(dict(result.replicas)) == {"nodeless": 2, "onprem": 4}
    rows = result.decision.chosen + result.decision.runner_ups
    assert {row.cluster_name: row.available_replicas for row in rows} == {"nodeless": 6, "onprem": 12}
    assert all(row.score is not None and row.score <= 12 for row in rows)


def test_a_limited_nodeless_cluster_offers_the_room_its_limits_leave() -> None:
    clusters = [nodeless_cluster("nodeless", cores=2, memory_gib=100), observe_cluster("onprem", cores=4)]
    result = schedule(workload(6), capacity_spread(), clusters)
    assert by_name(dict(result.replicas)) == {"nodeless": 2, "onprem": 4}
    rows = result.decision.chosen
    assert {row.cluster_name: row.available_replicas for row in rows} == {"nodeless": 2, "onprem": 4}


def test_nodeless_room_follows_the_workload_on_scale_up() -> None:
    clusters = [nodeless_cluster("nodeless", cores=UNLIMITED / 1000, memory_gib=UNLIMITED / 1024)]
    policy = PlacementPolicy(Strategy.MOST_CAPACITY)
    result = schedule(workload(40), policy, clusters, {"id-nodeless": 10})
    assert by_name(dict(result.replicas)) == {"nodeless": 40}
    assert result.decision.chosen[0].available_replicas == 50
