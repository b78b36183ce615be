"""Invariants over random fleets, workloads and policies (hypothesis).

Capacity is checked against an oracle computed here from the snapshots, not by the engine.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.federation import (
    AssignmentMode,
    BurstSettings,
    ClusterSelector,
    ClusterSnapshot,
    CurrentPlacement,
    Fleet,
    LabelExpression,
    Location,
    NodelessPricing,
    Operator,
    PlacementPolicy,
    SpreadBy,
    SpreadSettings,
    Strategy,
    WeightMode,
    WeightRule,
    WorkloadSpec,
    schedule,
)
from tests.engines.federation.federation_builders import nodeless_cluster, observe_cluster, shape, workload

ENVS = ("prod", "staging")
REGIONS = ("r1", "r2", "r3")
CLOUDS = ("aws", "gcp", "onprem")
SHAPES = (shape("s", 2, 8, 0.1), shape("m", 8, 32, 0.38), shape("g", 16, 64, 3.0, gpus=2))


@st.composite
def clusters(draw: st.DrawFn) -> list[ClusterSnapshot]:
    count = draw(st.integers(min_value=1, max_value=7))
    result = []
    for number in range(count):
        labels = {
            "env": draw(st.sampled_from(ENVS)),
            "region": draw(st.sampled_from(REGIONS)),
            "cloud": draw(st.sampled_from(CLOUDS)),
        }
        # Mostly healthy and reachable, so placements happen often enough to test.
        healthy = draw(st.sampled_from((True, True, False)))
        reachable = draw(st.sampled_from((True, True, False)))
        cores = draw(st.integers(min_value=0, max_value=40))
        memory = draw(st.integers(min_value=0, max_value=160))
        if draw(st.booleans()):
            gpus = draw(st.integers(min_value=0, max_value=2))
            shapes = tuple(draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3, unique=True)))
            cluster = nodeless_cluster(
                f"c{number}", shapes=shapes, cores=cores, memory_gib=memory, gpus=gpus, healthy=healthy,
                reachable=reachable, labels=labels,
            )  # fmt: skip
        else:
            cluster = observe_cluster(
                f"c{number}", cores=cores, memory_gib=memory, gpus=draw(st.integers(min_value=0, max_value=4)),
                core_hour=draw(st.sampled_from((0.02, 0.03, 0.05))), healthy=healthy, reachable=reachable,
                free_pods=draw(st.none() | st.integers(min_value=0, max_value=30)), labels=labels,
            )  # fmt: skip
        result.append(cluster)
    return result


selectors = st.sampled_from(
    (
        ClusterSelector(),
        ClusterSelector.equals(env="prod"),
        ClusterSelector((LabelExpression("region", Operator.IN, ("r1", "r2")),)),
        ClusterSelector((LabelExpression("cloud", Operator.NOT_IN, ("onprem",)),)),
    )
)


@st.composite
def policies(draw: st.DrawFn) -> PlacementPolicy:
    strategy = draw(st.sampled_from(Strategy))
    selector = draw(selectors)
    stickiness = draw(st.sampled_from((0.0, 0.1, 0.5)))
    if strategy is Strategy.SPREAD:
        weights = draw(st.sampled_from(WeightMode))
        rules: tuple[WeightRule, ...] = ()
        if weights is WeightMode.STATIC:
            rules = (
                WeightRule(draw(st.integers(0, 5)), selector=ClusterSelector.equals(region="r1")),
                WeightRule(draw(st.integers(0, 5)), cluster_names=frozenset({"c0", "c2"})),
            )
        minimum = draw(st.integers(min_value=1, max_value=3))
        maximum = draw(st.none() | st.integers(min_value=minimum, max_value=4))
        spread = SpreadSettings(weights, rules, draw(st.sampled_from(SpreadBy)), minimum, maximum)
        return PlacementPolicy(strategy, selector, spread=spread, stickiness=stickiness)
    if strategy is Strategy.FILL_THEN_BURST:
        tiers = (
            ClusterSelector.equals(cloud="onprem"),
            ClusterSelector.equals(cloud="aws"),
            ClusterSelector(),
        )
        burst = BurstSettings(tiers[: draw(st.integers(min_value=1, max_value=3))])
        return PlacementPolicy(strategy, selector, burst=burst, stickiness=stickiness)
    if strategy is Strategy.PINNED:
        names = tuple(draw(st.lists(st.sampled_from(("c0", "c1", "id-c2", "c5")), min_size=1, max_size=3)))
        return PlacementPolicy(strategy, selector, pinned=names, stickiness=stickiness)
    return PlacementPolicy(
        strategy, selector, stickiness=stickiness, egress_weight=draw(st.sampled_from((0, 1)))
    )


workloads = st.builds(
    lambda replicas, cpu, memory, gpus, egress: workload(
        replicas,
        cpu=cpu / 4,
        memory_gib=memory,
        gpus=gpus,
        egress_gb_per_hour=egress,
        egress_source=Location("aws", "r1"),
    ),
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=1, max_value=16),
    st.integers(min_value=1, max_value=8),
    st.sampled_from((0, 0, 1)),
    st.sampled_from((0.0, 20.0)),
)


@st.composite
def placements(draw: st.DrawFn) -> dict[str, int]:
    names = draw(st.lists(st.sampled_from([f"id-c{n}" for n in range(8)]), max_size=4, unique=True))
    return {name: draw(st.integers(min_value=1, max_value=6)) for name in names}


def room(cluster: ClusterSnapshot, spec: WorkloadSpec) -> int:
    """Oracle: replicas of ``spec`` that fit in the cluster's free capacity."""
    request = spec.requests
    limits = [
        cluster.free.cpu_millicores // request.cpu_millicores,
        cluster.free.memory_mib // request.memory_mib,
    ]
    if request.gpu:
        limits.append(cluster.free.gpu // request.gpu)
    if cluster.free_pods is not None:
        limits.append(cluster.free_pods)
    if isinstance(cluster.pricing, NodelessPricing) and not any(
        node.replicas_per_node(request) for node in cluster.pricing.shapes
    ):
        return 0
    return min(limits)


def eligible(cluster: ClusterSnapshot, policy: PlacementPolicy, spec: WorkloadSpec) -> bool:
    return (
        cluster.healthy
        and cluster.reachable
        and policy.selector.matches(cluster.labels)
        and spec.kind in cluster.supported_kinds
    )


PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(
    clusters(),
    workloads,
    policies(),
    placements(),
    st.booleans(),
    st.sampled_from(AssignmentMode),
    st.lists(st.sampled_from(("id-c0", "c1", "c3")), max_size=2),
)
def test_replicas_add_up_fit_capacity_and_use_only_eligible_clusters(
    members: list[ClusterSnapshot],
    spec: WorkloadSpec,
    policy: PlacementPolicy,
    current: dict[str, int],
    keep_current: bool,
    mode: AssignmentMode,
    avoid: list[str],
) -> None:
    result = schedule(spec, policy, members, current, keep_current=keep_current, mode=mode, avoid=avoid)
    by_id = {cluster.id: cluster for cluster in members}
    if policy.strategy is not Strategy.DUPLICATE:
        assert result.placed + result.unplaced == spec.replicas
    for cluster_id, count in result.replicas.items():
        assert count > 0
        cluster = by_id[cluster_id]
        assert cluster.id not in avoid and cluster.name not in avoid
        before = current.get(cluster_id, 0)
        if eligible(cluster, policy, spec):
            assert count <= room(cluster, spec) + before
        else:
            # Only replicas the loop asked to keep on an unhealthy member may stay, never grow.
            assert keep_current and policy.selector.matches(cluster.labels)
            assert 0 < count <= before


@PROPERTY_SETTINGS
@given(clusters(), workloads, policies(), placements())
def test_same_inputs_give_the_same_decision(
    members: list[ClusterSnapshot], spec: WorkloadSpec, policy: PlacementPolicy, current: dict[str, int]
) -> None:
    first = schedule(spec, policy, members, current)
    second = schedule(spec, policy, Fleet(list(members)), CurrentPlacement(dict(current)))
    assert dict(first.replicas) == dict(second.replicas)
    assert repr(first.decision) == repr(second.decision)


@PROPERTY_SETTINGS
@given(clusters(), workloads, policies(), st.integers(min_value=1, max_value=20))
def test_steady_scale_up_never_takes_replicas_from_a_cluster(
    members: list[ClusterSnapshot], spec: WorkloadSpec, policy: PlacementPolicy, more: int
) -> None:
    fleet = Fleet(members)
    before = schedule(spec, policy, fleet)
    # The next pass sees the first decision running: charge it, then ask for more replicas.
    fleet = fleet.charge(before.changes(), spec.requests)
    bigger = WorkloadSpec(spec.id, spec.kind, spec.replicas + more, spec.requests)
    after = schedule(bigger, policy, fleet, CurrentPlacement(dict(before.replicas), seconds_since_change=0))
    for cluster_id, count in before.replicas.items():
        assert after.replicas.get(cluster_id, 0) >= count
