"""Invariants over random clusters (hypothesis), and the LP bound against brute force."""

from __future__ import annotations

import math
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.planner.support import (
    ZONES,
    _cheapest_option,
    check_plan,
    existing_node,
    offering_suits,
    requirement,
    tiny_catalog,
)
from workers.planner import (
    CapacityType,
    IsolationRules,
    Limits,
    NodeSelectorTerm,
    Operator,
    Packing,
    PlannerPolicy,
    PodRequest,
    Resources,
    Snapshot,
    Taint,
    Toleration,
    TolerationOperator,
    plan,
)
from workers.planner import labels as wk

CATALOG = tiny_catalog()
SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def pods(draw: st.DrawFn, max_size: int = 14) -> list[PodRequest]:
    count = draw(st.integers(1, max_size))
    result = []
    for index in range(count):
        gpus = draw(st.sampled_from([0, 0, 0, 0, 1, 2]))
        share = draw(st.sampled_from([0, 0, 300, 700])) if gpus == 1 else 0
        selector = {}
        if draw(st.booleans()):
            selector[wk.ARCH] = draw(st.sampled_from(["amd64", "arm64"]))
        terms: tuple[NodeSelectorTerm, ...] = ()
        if draw(st.booleans()):
            zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True))
            expressions = [requirement(wk.ZONE, Operator.IN, *zones)]
            if draw(st.booleans()):
                expressions.append(
                    requirement(wk.CAPACITY_TYPE, Operator.IN, draw(st.sampled_from(["spot", "on-demand"])))
                )
            if draw(st.booleans()):
                expressions.append(requirement(wk.INSTANCE_FAMILY, Operator.NOT_IN, "c5"))
            terms = (NodeSelectorTerm(tuple(expressions)),)
        result.append(
            PodRequest(
                uid=f"p{index}",
                name=f"p{index}",
                namespace=draw(st.sampled_from(["default", "default", "tenant-a"])),
                requests=Resources(
                    cpu_millis=draw(st.sampled_from([50, 100, 250, 500, 1000, 1500, 3000, 7000])),
                    memory_mib=draw(st.sampled_from([64, 256, 512, 1024, 4096, 16384])),
                    gpus=0 if share else gpus,
                ),
                gpu_share_milli=share,
                gpu_models=draw(
                    st.sampled_from([frozenset(), frozenset({"T4"}), frozenset({"V100", "A10G"})])
                ),
                node_selector=selector,
                required_node_affinity=terms,
                tolerations=(Toleration("dedicated", TolerationOperator.EXISTS),)
                if draw(st.booleans())
                else (),
                isolate=draw(st.booleans()) and draw(st.booleans()),
                priority=draw(st.integers(0, 2)),
            )
        )
    return result


@st.composite
def policies(draw: st.DrawFn, limits: bool = True) -> PlannerPolicy:
    capacity = draw(st.sets(st.sampled_from(list(CapacityType)), min_size=1))
    return PlannerPolicy(
        capacity_types=frozenset(capacity),
        packing=draw(st.sampled_from([Packing.PACK, Packing.PACK, Packing.ISOLATE])),
        isolation=IsolationRules(
            namespaces=frozenset({"tenant-a"}) if draw(st.booleans()) else frozenset(),
            cpu_threshold_millis=draw(st.sampled_from([None, 3000])),
            gpu_pods=draw(st.booleans()),
        ),
        max_pods_per_node=draw(st.sampled_from([None, 3, 8])),
        spot_max_interruption_bucket=draw(st.sampled_from([None, 0, 2])),
        gpu_sharing=draw(st.booleans()),
        node_taints=(Taint("dedicated", "x"),) if draw(st.booleans()) else (),
        limits=Limits(max_nodes=draw(st.sampled_from([None, 2, 5]))) if limits else Limits(),
    )


@st.composite
def existing(draw: st.DrawFn) -> tuple:
    nodes = []
    for index in range(draw(st.integers(0, 3))):
        nodes.append(
            existing_node(
                f"node-{index}",
                Resources(
                    cpu_millis=draw(st.sampled_from([0, 500, 2000, 6000])),
                    memory_mib=draw(st.sampled_from([0, 1024, 8192])),
                    gpus=draw(st.sampled_from([0, 0, 1])),
                    pods=draw(st.sampled_from([0, 2, 10])),
                ),
                labels={
                    wk.ARCH: draw(st.sampled_from(["amd64", "arm64"])),
                    wk.ZONE: draw(st.sampled_from(ZONES)),
                },
                taints=(Taint("dedicated", "x"),) if draw(st.booleans()) else (),
                reserved_for_pod=draw(st.sampled_from([None, None, "p0"])),
            )
        )
    return tuple(nodes)


@SETTINGS
@given(
    pods(),
    policies(),
    existing(),
    st.sampled_from([Resources(), Resources(cpu_millis=150, memory_mib=200, pods=2)]),
)
def test_every_pod_placed_once_or_reported_and_no_node_over_capacity(pod_list, policy, nodes, overhead):
    snapshot = Snapshot(pods=tuple(pod_list), existing_nodes=nodes, daemonset_overhead=overhead)
    check_plan(plan(snapshot, policy, CATALOG), snapshot, policy, CATALOG)


@SETTINGS
@given(pods(), policies(), st.sampled_from([frozenset(), frozenset({"z-a"}), frozenset({"z-b", "z-c"})]))
def test_plans_respect_zones_and_report_only_truly_unservable_pods(pod_list, policy, zones):
    snapshot = Snapshot(pods=tuple(pod_list), allowed_zones=zones)
    result = plan(snapshot, policy.__class__(**{**_fields(policy), "limits": Limits()}), CATALOG)
    check_plan(
        result,
        snapshot,
        result_policy := policy.__class__(**{**_fields(policy), "limits": Limits()}),
        CATALOG,
    )
    by_uid = {p.uid: p for p in pod_list}
    for unschedulable in result.unschedulable:
        alone = [by_uid[unschedulable.pod_uid]]
        assert not any(
            offering_suits(CATALOG, result_policy, snapshot, o, alone) for o in CATALOG.offerings
        ) or (unschedulable.code.value == "invalid_request"), unschedulable.reason


def _fields(policy: PlannerPolicy) -> dict:
    return {name: getattr(policy, name) for name in policy.__dataclass_fields__}


def _partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _partitions(rest):
        yield [[first], *partition]
        for i in range(len(partition)):
            yield [*partition[:i], [first, *partition[i]], *partition[i + 1 :]]


def _brute_force(snapshot: Snapshot, policy: PlannerPolicy, placed: list[PodRequest]) -> float:
    """The cheapest plan for `placed` over every way of grouping them into nodes."""
    isolated = {p.uid for p in placed if policy.isolates(p)}
    cache: dict[tuple[int, ...], float] = {}

    def block_cost(block: list[int]) -> float:
        key = tuple(block)
        if key not in cache:
            members = [placed[i] for i in block]
            if len(members) > 1 and any(p.uid in isolated for p in members):
                cache[key] = math.inf
            else:
                try:
                    cache[key] = _cheapest_option(CATALOG, policy, snapshot, members)
                except ValueError:
                    cache[key] = math.inf
        return cache[key]

    return min(sum(block_cost(b) for b in partition) for partition in _partitions(list(range(len(placed)))))


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods(max_size=6), policies(limits=False))
def test_lower_bound_never_exceeds_the_brute_force_optimum(pod_list, policy):
    snapshot = Snapshot(pods=tuple(pod_list))
    result = plan(snapshot, policy, CATALOG)
    check_plan(result, snapshot, policy, CATALOG)
    unplaced = {u.pod_uid for u in result.unschedulable}
    placed = [p for p in pod_list if p.uid not in unplaced]
    optimum = _brute_force(snapshot, policy, placed) if placed else 0.0
    assert result.lp_lower_bound <= optimum * (1 + 1e-9) + 1e-12
    assert result.cost_per_hour >= optimum * (1 - 1e-9) - 1e-12
