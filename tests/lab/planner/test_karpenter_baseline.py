"""The Karpenter baseline behaves like Karpenter, and the planner never costs more than it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from engines.planner import CapacityType, Packing, PlannerPolicy, Resources, Snapshot, plan
from lab.planner.baseline import NodeOrder, karpenter_plan
from lab.planner.testing import karpenter_catalog, karpenter_pods
from tests.engines.planner.planner_builders import GIB, check_plan, existing_node, pod, tiny_catalog
from tests.engines.planner.strategies import pods, policies

CATALOG = tiny_catalog(serverless=False)
NO_SERVERLESS = frozenset({CapacityType.ON_DEMAND, CapacityType.SPOT})


def test_baseline_launches_the_cheapest_type_left_in_each_claim():
    snapshot = Snapshot(pods=tuple(pod(300, 300) for _ in range(4)))
    result = karpenter_plan(snapshot, PlannerPolicy(), CATALOG)
    check_plan(result, snapshot, PlannerPolicy(), CATALOG)
    assert len(result.launches) == 1, "first fit keeps adding pods to the open claim"


def test_baseline_fills_one_claim_until_no_type_holds_more():
    # Pods of 7 vCPU: the largest amd64 type (32 vCPU p3.8xlarge) holds four; Karpenter keeps
    # growing the claim, so a claim ends up on the largest type rather than on small nodes.
    snapshot = Snapshot(pods=tuple(pod(7000, 1024) for _ in range(4)))
    policy = PlannerPolicy(capacity_types=frozenset({CapacityType.ON_DEMAND}))
    result = karpenter_plan(snapshot, policy, CATALOG)
    assert len(result.launches) == 1
    ours = plan(snapshot, policy, CATALOG)
    assert ours.cost_per_hour < result.cost_per_hour


def test_baseline_sorts_pods_by_cpu_then_memory():
    small, big = pod(100, 100), pod(1800, 200)
    snapshot = Snapshot(pods=(small, big))
    result = karpenter_plan(snapshot, PlannerPolicy(), CATALOG)
    assert result.launches[0].pod_uids == (big.uid, small.uid)


def test_baseline_uses_existing_capacity_first():
    node = existing_node("node-1", Resources(2000, 4 * GIB, pods=10))
    snapshot = Snapshot(pods=(pod(500, 512), pod(500, 512)), existing_nodes=(node,))
    result = karpenter_plan(snapshot, PlannerPolicy(), CATALOG)
    assert len(result.bindings) == 2 and not result.launches


def test_baseline_gives_isolated_pods_their_own_claims():
    snapshot = Snapshot(pods=tuple(pod(100, 100) for _ in range(3)))
    result = karpenter_plan(snapshot, PlannerPolicy(packing=Packing.ISOLATE), CATALOG)
    assert len(result.launches) == 3


@pytest.mark.parametrize("order", list(NodeOrder))
def test_both_node_orders_place_every_pod(order):
    snapshot = Snapshot(pods=karpenter_pods(300))
    catalog = karpenter_catalog(40)
    result = karpenter_plan(snapshot, PlannerPolicy(), catalog, node_order=order)
    assert sum(len(launch.pod_uids) for launch in result.launches) == 300


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods(), policies(limits=False))
def test_planner_never_costs_more_than_the_baseline(pod_list, policy):
    policy = PlannerPolicy(
        capacity_types=policy.capacity_types & NO_SERVERLESS or NO_SERVERLESS,
        packing=policy.packing,
        isolation=policy.isolation,
        max_pods_per_node=policy.max_pods_per_node,
        gpu_sharing=policy.gpu_sharing,
    )
    snapshot = Snapshot(pods=tuple(pod_list))
    ours = plan(snapshot, policy, CATALOG)
    baseline = karpenter_plan(snapshot, policy, CATALOG)
    check_plan(baseline, snapshot, policy, CATALOG)
    assert {u.pod_uid for u in ours.unschedulable} == {u.pod_uid for u in baseline.unschedulable}
    assert ours.cost_per_hour <= baseline.cost_per_hour * (1 + 1e-9) + 1e-12


def test_baseline_tries_ready_nodes_before_in_flight_ones_then_by_name():
    room = Resources(2000, 4 * GIB, pods=10)
    nodes = (
        existing_node("b-ready", room),
        existing_node("a-in-flight", room, ready=False),
        existing_node("c-ready", room),
    )
    snapshot = Snapshot(pods=(pod(500, 512),), existing_nodes=nodes)
    result = karpenter_plan(snapshot, PlannerPolicy(), CATALOG)
    assert [b.node_name for b in result.bindings] == ["b-ready"]
