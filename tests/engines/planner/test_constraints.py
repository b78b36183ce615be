"""Node selectors, required affinity, capacity types, GPU models and taints reach every launch."""

from __future__ import annotations

import pytest

from engines.kube import labels as wk
from engines.planner import (
    CapacityType,
    InstanceRequirements,
    NodeSelectorTerm,
    Operator,
    PlannerPolicy,
    Snapshot,
    Taint,
    Toleration,
    TolerationOperator,
    UnschedulableCode,
    plan,
)
from tests.engines.planner.planner_builders import check_plan, pod, requirement, tiny_catalog

CATALOG = tiny_catalog()
TYPES = {t.name: t for t in CATALOG.instance_types}


def _plan(pods, policy=None, **snapshot):
    policy = policy or PlannerPolicy()
    snap = Snapshot(pods=tuple(pods), **snapshot)
    result = plan(snap, policy, CATALOG)
    check_plan(result, snap, policy, CATALOG)
    return result


def test_arm64_selector_puts_pods_on_arm64_nodes_only():
    arm = [pod(selector={wk.ARCH: "arm64"}) for _ in range(5)]
    result = _plan(arm + [pod(selector={wk.ARCH: "amd64"}) for _ in range(5)])
    arm_uids = {p.uid for p in arm}
    for launch in result.launches:
        architectures = {TYPES[o.instance_type].architecture for o in launch.offerings}
        if arm_uids & set(launch.pod_uids):
            assert architectures == {"arm64"}
        else:
            assert architectures == {"amd64"}


def test_every_offering_of_an_arm64_launch_is_arm64():
    arm = [pod(selector={wk.ARCH: "arm64"}) for _ in range(3)]
    result = _plan(arm)
    for launch in result.launches:
        assert {TYPES[o.instance_type].architecture for o in launch.offerings} == {"arm64"}


def test_zone_affinity_keeps_launches_in_the_allowed_zones():
    pods = [pod(affinity=[requirement(wk.ZONE, Operator.IN, "z-b", "z-c")]) for _ in range(6)]
    result = _plan(pods)
    assert result.launches
    assert {o.zone for launch in result.launches for o in launch.offerings} <= {"z-b", "z-c"}


def test_snapshot_allowed_zones_restrict_every_launch():
    result = _plan([pod() for _ in range(4)], allowed_zones=frozenset({"z-c"}))
    assert {o.zone for launch in result.launches for o in launch.offerings} == {"z-c"}


def test_on_demand_selector_excludes_spot_offerings():
    pods = [pod(selector={wk.CAPACITY_TYPE: "on-demand"}) for _ in range(4)]
    result = _plan(pods)
    assert {o.capacity_type for launch in result.launches for o in launch.offerings} == {
        CapacityType.ON_DEMAND
    }


def test_policy_capacity_types_exclude_spot():
    policy = PlannerPolicy(capacity_types=frozenset({CapacityType.ON_DEMAND}))
    result = _plan([pod() for _ in range(4)], policy)
    assert all(
        o.capacity_type is CapacityType.ON_DEMAND for launch in result.launches for o in launch.offerings
    )


def test_instance_type_selector_pins_the_type():
    result = _plan([pod(selector={wk.INSTANCE_TYPE: "m5.large"}) for _ in range(3)])
    assert {o.instance_type for launch in result.launches for o in launch.offerings} == {"m5.large"}


def test_instance_family_not_in_affinity_avoids_the_family():
    pods = [pod(affinity=[requirement(wk.INSTANCE_FAMILY, Operator.NOT_IN, "c5", "c6g")]) for _ in range(4)]
    result = _plan(pods)
    assert not {TYPES[o.instance_type].family for launch in result.launches for o in launch.offerings} & {
        "c5",
        "c6g",
    }


def test_affinity_terms_are_alternatives():
    terms = (
        requirement(wk.INSTANCE_TYPE, Operator.IN, "m5.2xlarge"),
        requirement(wk.INSTANCE_TYPE, Operator.IN, "c5.xlarge"),
    )
    pods = [pod(required_node_affinity=tuple(NodeSelectorTerm((t,)) for t in terms)) for _ in range(2)]
    result = _plan(pods)
    assert {o.instance_type for launch in result.launches for o in launch.offerings} <= {
        "m5.2xlarge",
        "c5.xlarge",
    }


def test_gpu_model_allowlist_is_honoured():
    pods = [pod(2000, 4096, gpus=1, gpu_models=frozenset({"A10G"})) for _ in range(2)]
    result = _plan(pods)
    assert {TYPES[o.instance_type].gpu_model for launch in result.launches for o in launch.offerings} == {
        "A10G"
    }


def test_gpu_pods_only_land_on_gpu_nodes_with_enough_devices():
    result = _plan([pod(1000, 2048, gpus=4)])
    (launch,) = result.launches
    assert all(TYPES[o.instance_type].gpus >= 4 for o in launch.offerings)


def test_policy_taint_blocks_pods_without_a_toleration():
    policy = PlannerPolicy(node_taints=(Taint("dedicated", "batch"),))
    tolerant = pod(tolerations=(Toleration("dedicated", TolerationOperator.EQUAL, "batch"),))
    intolerant = pod()
    result = _plan([tolerant, intolerant], policy)
    assert [u.pod_uid for u in result.unschedulable] == [intolerant.uid]
    assert result.unschedulable[0].code is UnschedulableCode.UNTOLERATED_TAINT
    assert "dedicated=batch:NoSchedule" in result.unschedulable[0].reason


def test_policy_node_labels_can_be_selected():
    policy = PlannerPolicy(node_labels={"team": "ml"})
    result = _plan([pod(selector={"team": "ml"})], policy)
    assert result.launches and not result.unschedulable


def test_selector_on_a_label_new_nodes_never_carry_is_unschedulable():
    result = _plan([pod(selector={"disktype": "ssd"})])
    assert len(result.unschedulable) == 1
    assert "disktype" in result.unschedulable[0].reason


@pytest.mark.parametrize("architecture", ["amd64", "arm64"])
def test_policy_architectures_restrict_every_offering(architecture):
    policy = PlannerPolicy(
        instance_requirements=InstanceRequirements(architectures=frozenset({architecture}))
    )
    result = _plan([pod() for _ in range(4)], policy)
    assert {TYPES[o.instance_type].architecture for launch in result.launches for o in launch.offerings} == {
        architecture
    }


def test_gt_requirement_on_instance_cpu():
    pods = [pod(affinity=[requirement(wk.INSTANCE_CPU, Operator.GT, "4")]) for _ in range(2)]
    result = _plan(pods)
    assert all(TYPES[o.instance_type].vcpu > 4 for launch in result.launches for o in launch.offerings)
