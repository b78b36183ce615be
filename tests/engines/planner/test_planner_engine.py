"""Engine-wide behaviour: GPU sharing, purity, determinism, real catalogs."""

from __future__ import annotations

import pytest

from engines.planner import PlannerPolicy, Snapshot, plan
from lab.planner.testing import karpenter_catalog, karpenter_pods
from lab.traces.alibaba import alive_at, busiest_moment, read_alibaba_pods, trace_pod_request
from tests.engines.planner.planner_builders import check_plan, pod, tiny_catalog

CATALOG = tiny_catalog(serverless=False)
TYPES = {t.name: t for t in CATALOG.instance_types}


def test_gpu_slices_share_one_device_only_when_the_policy_allows_it():
    pods = [pod(200, 256, gpu_share=250, gpu_models=frozenset({"T4"})) for _ in range(4)]
    snapshot = Snapshot(pods=tuple(pods))
    shared = plan(snapshot, PlannerPolicy(gpu_sharing=True), CATALOG)
    check_plan(shared, snapshot, PlannerPolicy(gpu_sharing=True), CATALOG)
    assert sum(TYPES[launch.chosen.instance_type].gpus for launch in shared.launches) == 1
    whole = plan(snapshot, PlannerPolicy(), CATALOG)
    check_plan(whole, snapshot, PlannerPolicy(), CATALOG)
    assert sum(TYPES[launch.chosen.instance_type].gpus for launch in whole.launches) == 4


def test_a_gpu_slice_rounds_up_to_a_power_of_two_fraction():
    # 300 milli-GPU becomes half a device: three such pods need two devices, not one.
    pods = [pod(200, 256, gpu_share=300, gpu_models=frozenset({"T4"})) for _ in range(3)]
    snapshot = Snapshot(pods=tuple(pods))
    result = plan(snapshot, PlannerPolicy(gpu_sharing=True), CATALOG)
    check_plan(result, snapshot, PlannerPolicy(gpu_sharing=True), CATALOG)
    assert sum(TYPES[launch.chosen.instance_type].gpus for launch in result.launches) == 2


def test_a_snapshot_of_another_region_is_refused():
    with pytest.raises(ValueError, match="region"):
        plan(Snapshot(pods=(pod(),), region="eu-west-1"), PlannerPolicy(), CATALOG)


def test_planning_writes_nothing_to_stdout_or_stderr(capfd):
    snapshot = Snapshot(pods=tuple(pod(300, 300) for _ in range(20)))
    plan(snapshot, PlannerPolicy(), CATALOG)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_the_same_input_gives_the_same_plan():
    snapshot = Snapshot(pods=karpenter_pods(300, seed=7))
    catalog = karpenter_catalog(60)
    assert plan(snapshot, PlannerPolicy(), catalog) == plan(snapshot, PlannerPolicy(), catalog)


def test_the_karpenter_benchmark_plan_is_valid_and_near_its_bound():
    snapshot = Snapshot(pods=karpenter_pods(1000))
    catalog = karpenter_catalog()
    result = plan(snapshot, PlannerPolicy(), catalog)
    check_plan(result, snapshot, PlannerPolicy(), catalog)
    assert result.cost_per_hour <= 1.03 * result.lp_lower_bound


@pytest.mark.slow
def test_the_alibaba_peak_plan_is_valid_on_the_real_aws_catalog(aws_catalog):
    trace = read_alibaba_pods()
    pods = tuple(trace_pod_request(p) for p in alive_at(trace, busiest_moment(trace)))
    snapshot = Snapshot(pods=pods, region="us-east-1")
    result = plan(snapshot, PlannerPolicy(), aws_catalog)
    check_plan(result, snapshot, PlannerPolicy(), aws_catalog)
    assert not result.unschedulable
    models = {t.name: t.gpu_model for t in aws_catalog.instance_types}
    for launch in result.launches:
        if any(p.wants_gpu for p in pods if p.uid in launch.pod_uids):
            assert all(
                models[o.instance_type] not in ("Gaudi HL-205", "Radeon Pro V520") for o in launch.offerings
            )
