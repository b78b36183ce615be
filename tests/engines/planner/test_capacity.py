"""System reserve, daemonset overhead, max pods, existing capacity and policy limits."""

from __future__ import annotations

from engines.kube import labels as wk
from engines.planner import (
    CapacityType,
    Limits,
    PlannerPolicy,
    Resources,
    Snapshot,
    Taint,
    UnschedulableCode,
    plan,
)
from tests.engines.planner.planner_builders import GIB, RESERVE, check_plan, existing_node, pod, tiny_catalog

CATALOG = tiny_catalog(serverless=False)
TYPES = {t.name: t for t in CATALOG.instance_types}


def _plan(pods, policy=None, catalog=CATALOG, **snapshot):
    policy = policy or PlannerPolicy()
    snap = Snapshot(pods=tuple(pods), **snapshot)
    result = plan(snap, policy, catalog)
    check_plan(result, snap, policy, catalog)
    return result


def test_system_reserve_keeps_a_full_size_pod_off_the_matching_type():
    # c5.large has exactly 2 vCPU; after the reserve a 2-vCPU pod needs a bigger node.
    catalog = tiny_catalog(["c5.large", "c5.xlarge"], serverless=False)
    result = _plan([pod(2000, 1024)], catalog=catalog)
    assert result.launches[0].chosen.instance_type == "c5.xlarge"
    fits_after_reserve = pod(2000 - RESERVE.cpu_millis, 1024)
    assert _plan([fits_after_reserve], catalog=catalog).launches[0].chosen.instance_type == "c5.large"


def test_daemonset_overhead_is_reserved_on_every_new_node():
    catalog = tiny_catalog(["c5.large", "c5.xlarge"], serverless=False)
    free_cpu = 2000 - RESERVE.cpu_millis
    overhead = Resources(cpu_millis=200, memory_mib=128, pods=2)
    without = _plan([pod(free_cpu - 100, 512)], catalog=catalog)
    with_overhead = _plan([pod(free_cpu - 100, 512)], catalog=catalog, daemonset_overhead=overhead)
    assert without.launches[0].chosen.instance_type == "c5.large"
    assert with_overhead.launches[0].chosen.instance_type == "c5.xlarge"
    assert with_overhead.launches[0].requests.cpu_millis == free_cpu - 100 + overhead.cpu_millis
    assert with_overhead.launches[0].requests.pods == 1 + overhead.pods


def test_max_pods_of_the_type_caps_a_node():
    catalog = tiny_catalog(["c5.large"], serverless=False)
    max_pods = TYPES["c5.large"].max_pods
    result = _plan([pod(10, 10) for _ in range(max_pods + 1)], catalog=catalog)
    assert sorted(len(launch.pod_uids) for launch in result.launches) == [1, max_pods]


def test_policy_max_pods_per_node_counts_daemonsets():
    policy = PlannerPolicy(max_pods_per_node=5)
    result = _plan([pod(10, 10) for _ in range(9)], policy, daemonset_overhead=Resources(pods=2))
    assert all(len(launch.pod_uids) <= 3 for launch in result.launches)
    assert sum(len(launch.pod_uids) for launch in result.launches) == 9


def test_free_capacity_of_existing_nodes_is_used_first():
    node = existing_node("node-1", Resources(cpu_millis=4000, memory_mib=8 * GIB, pods=20))
    pods = [pod(500, 512) for _ in range(6)]
    result = _plan(pods, existing_nodes=(node,))
    assert not result.launches
    assert {b.node_name for b in result.bindings} == {"node-1"}
    assert result.cost_per_hour == 0


def test_existing_capacity_overflows_to_new_nodes():
    node = existing_node("node-1", Resources(cpu_millis=1000, memory_mib=8 * GIB, pods=20))
    pods = [pod(500, 512) for _ in range(6)]
    result = _plan(pods, existing_nodes=(node,))
    assert len(result.bindings) == 2
    assert sum(len(launch.pod_uids) for launch in result.launches) == 4


def test_existing_node_taints_and_labels_are_respected():
    tainted = existing_node("tainted", Resources(4000, 8 * GIB, pods=20), taints=(Taint("gpu-only"),))
    labelled = existing_node("arm", Resources(4000, 8 * GIB, pods=20), labels={wk.ARCH: "arm64"})
    p = pod(500, 512, selector={wk.ARCH: "amd64"})
    result = _plan([p], existing_nodes=(tainted, labelled))
    assert not result.bindings and len(result.launches) == 1


def test_node_reserved_for_a_pod_takes_only_that_pod():
    isolated = pod(500, 512, isolate=True)
    other = pod(500, 512)
    node = existing_node("reserved", Resources(4000, 8 * GIB, pods=20), reserved_for_pod=isolated.uid)
    result = _plan([isolated, other], existing_nodes=(node,))
    assert [(b.pod_uid, b.node_name) for b in result.bindings] == [(isolated.uid, "reserved")]
    assert [launch.pod_uids for launch in result.launches] == [(other.uid,)]


def test_max_nodes_limit_leaves_pods_pending_with_the_limit_named():
    policy = PlannerPolicy(
        capacity_types=frozenset({CapacityType.ON_DEMAND}), limits=Limits(max_nodes=2), max_pods_per_node=3
    )
    node = existing_node("node-1", Resources(0, 0, pods=0))
    result = _plan([pod(100, 100) for _ in range(9)], policy, existing_nodes=(node,))
    assert len(result.launches) == 1, "the existing node counts against max_nodes"
    pending = [u for u in result.unschedulable if u.code is UnschedulableCode.LIMIT_REACHED]
    assert len(pending) == 6 and all("max_nodes=2" in u.reason for u in pending)


def test_max_vcpu_limit_counts_existing_nodes():
    policy = PlannerPolicy(limits=Limits(max_vcpu=8 + 2), instance_requirements=_only(["c5.large"]))
    node = existing_node("node-1", Resources(0, 0, pods=0), instance_type="m5.2xlarge")
    result = _plan([pod(1500, 512, isolate=True) for _ in range(3)], policy, existing_nodes=(node,))
    assert len(result.launches) == 1
    assert sum(1 for u in result.unschedulable if "max_vcpu=10" in u.reason) == 2


def test_max_cost_limit_uses_billed_prices():
    policy = PlannerPolicy(
        capacity_types=frozenset({CapacityType.ON_DEMAND}), limits=Limits(max_cost_per_hour=0.2)
    )
    result = _plan([pod(1500, 512, isolate=True) for _ in range(3)], policy)
    assert result.billed_cost_per_hour <= 0.2
    assert len(result.unschedulable) == 3 - len(result.launches) >= 1


def test_lower_bound_is_recomputed_for_the_pods_a_limited_plan_places():
    policy = PlannerPolicy(limits=Limits(max_nodes=1), max_pods_per_node=2)
    result = _plan([pod(100, 100) for _ in range(6)], policy)
    assert len(result.launches) == 1
    assert 0 < result.lp_lower_bound <= result.cost_per_hour


def _only(names):
    from engines.planner import InstanceRequirements

    return InstanceRequirements(families_allow=frozenset(TYPES[n].family for n in names), max_vcpu=2)
