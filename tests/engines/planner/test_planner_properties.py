"""Invariants over random clusters (hypothesis), and the LP bound against brute force."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.kube import labels as wk
from engines.planner import Packing, PlannerPolicy, PodRequest, Resources, Snapshot, plan
from lab.planner.testing import karpenter_pods
from tests.engines.planner.planner_builders import (
    brute_force_optimum,
    cheapest_option,
    check_plan,
    tiny_catalog,
)
from tests.engines.planner.strategies import existing, pods, policies

CATALOG = tiny_catalog()
SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


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
@given(
    pods(),
    policies(limits=False),
    st.sampled_from([frozenset(), frozenset({"z-a"}), frozenset({"z-b", "z-c"})]),
)
def test_plans_respect_zones_and_report_only_truly_unservable_pods(pod_list, policy, zones):
    snapshot = Snapshot(pods=tuple(pod_list), allowed_zones=zones)
    result = plan(snapshot, policy, CATALOG)
    check_plan(result, snapshot, policy, CATALOG)
    by_uid = {p.uid: p for p in pod_list}
    for unschedulable in result.unschedulable:
        alone = [by_uid[unschedulable.pod_uid]]
        with pytest.raises(ValueError, match="empty"):
            cheapest_option(CATALOG, policy, snapshot, alone)  # no offering at all, serverless included


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods(max_size=6), policies(limits=False))
def test_lower_bound_never_exceeds_the_brute_force_optimum(pod_list, policy):
    snapshot = Snapshot(pods=tuple(pod_list))
    result = plan(snapshot, policy, CATALOG)
    check_plan(result, snapshot, policy, CATALOG)
    unplaced = {u.pod_uid for u in result.unschedulable}
    placed = [p for p in pod_list if p.uid not in unplaced]
    optimum = brute_force_optimum(CATALOG, snapshot, policy, placed) if placed else 0.0
    assert result.lp_lower_bound <= optimum * (1 + 1e-9) + 1e-12
    assert result.cost_per_hour >= optimum * (1 - 1e-9) - 1e-12


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(50, 400),
    st.integers(0, 10_000),
    st.sampled_from([Packing.PACK, Packing.PACK, Packing.ISOLATE]),
)
def test_larger_random_clusters_get_valid_plans(count, seed, packing):
    pod_list = tuple(
        PodRequest(uid=p.uid, name=p.name, requests=p.requests, node_selector=selector)
        for p, selector in zip(
            karpenter_pods(count, seed=seed),
            [{}, {}, {wk.ARCH: "arm64"}, {wk.ZONE: "z-b"}] * count,
            strict=False,
        )
    )
    snapshot = Snapshot(pods=pod_list)
    policy = PlannerPolicy(packing=packing)
    check_plan(plan(snapshot, policy, CATALOG), snapshot, policy, CATALOG)
