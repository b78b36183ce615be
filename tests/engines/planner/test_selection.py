"""Bin-selection (isolation rules) and serverless sizing."""

from __future__ import annotations

from engines.kube import labels as wk
from engines.planner import (
    CapacityType,
    IsolationRules,
    LabelSelector,
    Packing,
    PlannerPolicy,
    Snapshot,
    plan,
)
from tests.engines.planner.planner_builders import FARGATE, GIB, check_plan, offering_suits, pod, tiny_catalog

CATALOG = tiny_catalog()
ALL_CAPACITY = frozenset(CapacityType)


def _plan(pods, policy):
    snapshot = Snapshot(pods=tuple(pods))
    result = plan(snapshot, policy, CATALOG)
    check_plan(result, snapshot, policy, CATALOG)
    return result, snapshot


def _cheapest_single_node(p, policy, snapshot):
    return min(
        o.effective_price for o in CATALOG.offerings if offering_suits(CATALOG, policy, snapshot, o, [p])
    )


def test_isolated_pods_never_share_a_node():
    policy = PlannerPolicy(packing=Packing.ISOLATE)
    result, _ = _plan([pod(100, 128) for _ in range(6)], policy)
    assert len(result.launches) == 6
    assert all(
        len(launch.pod_uids) == 1 and launch.reserved_for_pod == launch.pod_uids[0]
        for launch in result.launches
    )


def test_each_isolated_pod_gets_its_cheapest_fitting_offering():
    policy = PlannerPolicy(packing=Packing.ISOLATE)
    pods = [pod(1500, 3000), pod(3000, 12 * GIB), pod(200, 256)]
    result, snapshot = _plan(pods, policy)
    by_pod = {launch.pod_uids[0]: launch for launch in result.launches}
    for p in pods:
        expected = _cheapest_single_node(p, policy, snapshot)
        assert abs(by_pod[p.uid].chosen.effective_price_per_hour - expected) < 1e-9


def test_isolation_by_namespace_leaves_other_pods_packed():
    policy = PlannerPolicy(isolation=IsolationRules(namespaces=frozenset({"tenant-a"})))
    isolated = [pod(100, 128, namespace="tenant-a") for _ in range(3)]
    shared = [pod(100, 128) for _ in range(6)]
    result, _ = _plan(isolated + shared, policy)
    for launch in result.launches:
        if set(launch.pod_uids) & {p.uid for p in isolated}:
            assert len(launch.pod_uids) == 1 and launch.reserved_for_pod
    shared_launches = [launch for launch in result.launches if set(launch.pod_uids) & {p.uid for p in shared}]
    assert len(shared_launches) == 1, "small unisolated pods are packed together"


def test_isolation_by_label_selector():
    policy = PlannerPolicy(isolation=IsolationRules(label_selectors=(LabelSelector({"tier": "untrusted"}),)))
    untrusted = pod(100, 128, labels={"tier": "untrusted"})
    result, _ = _plan([untrusted, pod(100, 128), pod(100, 128)], policy)
    launch = next(launch for launch in result.launches if untrusted.uid in launch.pod_uids)
    assert launch.pod_uids == (untrusted.uid,)


def test_isolation_by_size_threshold():
    policy = PlannerPolicy(isolation=IsolationRules(cpu_threshold_millis=3000))
    big = pod(3000, 1024)
    result, _ = _plan([big, pod(100, 128), pod(100, 128)], policy)
    launch = next(launch for launch in result.launches if big.uid in launch.pod_uids)
    assert launch.pod_uids == (big.uid,) and launch.reserved_for_pod == big.uid


def test_gpu_pods_isolated_when_the_rule_says_so():
    policy = PlannerPolicy(isolation=IsolationRules(gpu_pods=True))
    gpu_pods = [pod(500, 1024, gpus=1) for _ in range(2)]
    result, _ = _plan(gpu_pods, policy)
    assert sorted(len(launch.pod_uids) for launch in result.launches) == [1, 1]


def test_explicit_isolate_flag():
    flagged = pod(100, 128, isolate=True)
    result, _ = _plan([flagged, pod(100, 128)], PlannerPolicy())
    assert any(launch.pod_uids == (flagged.uid,) for launch in result.launches)


def test_serverless_rounds_up_after_adding_the_memory_overhead():
    # 1 vCPU and 1792 MiB + 256 MiB overhead = exactly 2 GiB: the 1 vCPU / 2 GB shape.
    policy = PlannerPolicy(capacity_types=frozenset({CapacityType.SERVERLESS}), packing=Packing.ISOLATE)
    result, _ = _plan([pod(1000, 1792)], policy)
    (launch,) = result.launches
    assert launch.chosen.capacity_type is CapacityType.SERVERLESS
    expected = 1.0 * FARGATE.usd_per_vcpu_hour + 2.0 * FARGATE.usd_per_gib_hour
    assert abs(launch.chosen.price_per_hour - expected) < 1e-12
    # One MiB more no longer fits 2 GB: the next shape up (3 GB) is needed.
    result, _ = _plan([pod(1000, 1793)], policy)
    expected = 1.0 * FARGATE.usd_per_vcpu_hour + 3.0 * FARGATE.usd_per_gib_hour
    assert abs(result.launches[0].chosen.price_per_hour - expected) < 1e-12


def test_serverless_cpu_rounds_up_to_an_allowed_pair():
    # 600m does not fit 0.5 vCPU, so the 1 vCPU shapes apply; their smallest memory is 2 GB.
    policy = PlannerPolicy(capacity_types=frozenset({CapacityType.SERVERLESS}), packing=Packing.ISOLATE)
    result, _ = _plan([pod(600, 256)], policy)
    expected = 1.0 * FARGATE.usd_per_vcpu_hour + 2.0 * FARGATE.usd_per_gib_hour
    assert abs(result.launches[0].chosen.price_per_hour - expected) < 1e-12


def test_isolated_pod_takes_serverless_only_when_cheaper():
    policy = PlannerPolicy(capacity_types=ALL_CAPACITY, packing=Packing.ISOLATE)
    p = pod(250, 256)
    result, snapshot = _plan([p], policy)
    # 256 MiB + 256 MiB overhead fits the smallest pair, 0.25 vCPU / 0.5 GB.
    fargate = 0.25 * FARGATE.usd_per_vcpu_hour + 0.5 * FARGATE.usd_per_gib_hour
    node = _cheapest_single_node(p, policy, snapshot)
    assert abs(result.launches[0].chosen.effective_price_per_hour - min(fargate, node)) < 1e-12
    kinds = {o.capacity_type for o in result.launches[0].offerings}
    assert CapacityType.SERVERLESS in kinds and kinds & {CapacityType.SPOT, CapacityType.ON_DEMAND}


def test_gpu_pods_never_go_serverless():
    policy = PlannerPolicy(capacity_types=ALL_CAPACITY, packing=Packing.ISOLATE)
    result, _ = _plan([pod(100, 128, gpus=1)], policy)
    assert all(o.capacity_type is not CapacityType.SERVERLESS for o in result.launches[0].offerings)


def test_instance_type_selector_rules_out_serverless():
    policy = PlannerPolicy(capacity_types=ALL_CAPACITY, packing=Packing.ISOLATE)
    result, _ = _plan([pod(100, 128, selector={wk.INSTANCE_TYPE: "c5.large"})], policy)
    assert {o.instance_type for o in result.launches[0].offerings} == {"c5.large"}


def test_serverless_only_policy_serves_small_pods_and_reports_big_ones():
    policy = PlannerPolicy(capacity_types=frozenset({CapacityType.SERVERLESS}))
    small, huge = pod(500, 1024), pod(4000, 4096)
    result, _ = _plan([small, huge], policy)
    assert [launch.pod_uids for launch in result.launches] == [(small.uid,)]
    assert [u.pod_uid for u in result.unschedulable] == [huge.uid]
