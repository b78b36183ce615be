"""Unschedulable pods come back with a precise reason a person can act on."""

from __future__ import annotations

from engines.kube import labels as wk
from engines.planner import (
    CapacityType,
    InstanceRequirements,
    Operator,
    PlannerPolicy,
    Resources,
    Snapshot,
    UnschedulableCode,
    plan,
)
from tests.engines.planner.planner_builders import GIB, check_plan, pod, requirement, tiny_catalog

CATALOG = tiny_catalog(serverless=False)


def _reason(p, policy=None, **snapshot):
    policy = policy or PlannerPolicy()
    snap = Snapshot(pods=(p,), **snapshot)
    result = plan(snap, policy, CATALOG)
    check_plan(result, snap, policy, CATALOG)
    (unschedulable,) = result.unschedulable
    assert unschedulable.pod_uid == p.uid
    return unschedulable


def test_negative_requests_are_rejected_as_invalid():
    bad = pod()
    bad = type(bad)(uid="bad", name="bad", requests=Resources(cpu_millis=-1))
    assert _reason(bad).code is UnschedulableCode.INVALID_REQUEST


def test_too_many_gpus_names_the_largest_gpu_count():
    largest = max(t.gpus for t in CATALOG.instance_types)
    reason = _reason(pod(1000, 1024, gpus=largest + 4))
    assert reason.code is UnschedulableCode.NO_MATCHING_OFFERING
    assert f"{largest + 4:g} GPUs" in reason.reason and f"is {largest:g}" in reason.reason


def test_gpus_on_arm64_names_the_architecture():
    reason = _reason(pod(1000, 1024, gpus=1, selector={wk.ARCH: "arm64"}))
    assert "kubernetes.io/arch In arm64" in reason.reason
    assert "1 GPU" in reason.reason


def test_memory_beyond_every_type_names_memory():
    largest_gib = max(t.memory_mib for t in CATALOG.instance_types) / GIB
    reason = _reason(pod(1000, int((largest_gib + 1) * GIB)))
    assert "memory" in reason.reason


def test_policy_max_vcpu_is_named_when_it_excludes_every_fitting_type():
    policy = PlannerPolicy(instance_requirements=InstanceRequirements(max_vcpu=4))
    reason = _reason(pod(6000, 1024), policy)
    assert "max_vcpu=4" in reason.reason


def test_zone_without_the_needed_type_names_the_zones():
    # The only V100 type is sold in z-b alone.
    p = pod(1000, 1024, gpus=1, gpu_models=frozenset({"V100"}))
    reason = _reason(p, allowed_zones=frozenset({"z-a"}))
    assert "z-a" in reason.reason and "V100" in reason.reason


def test_capacity_type_restriction_is_named():
    # g5.2xlarge (the only A10G type) has no spot offering.
    policy = PlannerPolicy(capacity_types=frozenset({CapacityType.SPOT}))
    p = pod(1000, 1024, gpus=1, gpu_models=frozenset({"A10G"}))
    reason = _reason(p, policy)
    assert "spot" in reason.reason


def test_conflicting_affinity_names_the_requirement():
    p = pod(
        affinity=[
            requirement(wk.INSTANCE_TYPE, Operator.IN, "m5.large"),
            requirement(wk.ARCH, Operator.IN, "arm64"),
        ]
    )
    reason = _reason(p)
    assert "instance-type" in reason.reason or "arch" in reason.reason
