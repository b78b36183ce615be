"""The replay's decisions: scheduling onto ready nodes, booting nodes, isolation, GPU models,
unplaceable pods, the plan memo and consolidation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engines.planner import Packing, PodRequest, UnschedulableCode
from lab.replay import Consolidation, ReplayPod, Timing, replay
from tests.lab.replay.replay_builders import GPU_A10, LARGE, ON_DEMAND_ONLY, SMALL, catalog, instance, request


def run(pod_request: PodRequest, arrival: float, departure: float) -> ReplayPod:
    return ReplayPod(pod_request, arrival, departure)


def test_a_later_pod_is_scheduled_onto_a_ready_node_with_room():
    pods = [run(request("a"), 0, 3600), run(request("b"), 100, 3600)]
    result = replay(pods, catalog(), ON_DEMAND_ONLY, Timing())
    assert len(result.nodes) == 1
    assert result.nodes[0].pods_served == 2
    assert result.plan_calls == 1  # b never reached the planner


def test_the_planner_binds_a_pod_to_a_booting_node_and_the_pod_waits_for_it():
    pods = [run(request("a"), 0, 600), run(request("b"), 30, 630)]
    result = replay(pods, catalog(), ON_DEMAND_ONLY, Timing(boot_seconds=90))
    assert len(result.nodes) == 1
    # a waits 90 s for the boot, b (bound to the booting node at 30) waits 60 s.
    assert result.start_delay_seconds == 150
    assert result.nodes[0].released_at == 90 + 630 - 30


def test_isolated_pods_never_share_a_node():
    pods = [run(request("a"), 0, 3600), run(request("b"), 0, 3600), run(request("c"), 100, 3600)]
    isolate = replace(ON_DEMAND_ONLY, packing=Packing.ISOLATE)
    result = replay(pods, catalog(), isolate, Timing())
    assert len(result.nodes) == 3
    assert all(node.pods_served == 1 for node in result.nodes)


def test_a_gpu_pod_never_lands_on_a_node_whose_gpu_model_it_refuses():
    two_t4 = instance("g.t4", 8, 32, gpus=2, gpu_model="T4")
    gpu_catalog = catalog(two_t4, GPU_A10)
    pods = [
        run(request("t4-only", gpus=1, gpu_models=frozenset({"T4"})), 0, 3600),
        run(request("a10-only", gpus=1, gpu_models=frozenset({"A10G"})), 100, 3600),
        run(request("either", gpus=1, gpu_models=frozenset({"T4", "A10G"})), 200, 3600),
    ]
    result = replay(pods, gpu_catalog, ON_DEMAND_ONLY, Timing())
    assert sorted(node.instance_type for node in result.nodes) == sorted([two_t4.name, GPU_A10.name])
    by_type = {node.instance_type: node.pods_served for node in result.nodes}
    assert by_type == {two_t4.name: 2, GPU_A10.name: 1}


def test_a_pod_no_offering_holds_is_reported_and_never_runs():
    pods = [run(request("huge", cpu_millis=64_000), 0, 3600), run(request("fine"), 0, 3600)]
    result = replay(pods, catalog(), ON_DEMAND_ONLY, Timing())
    (unplaced,) = result.unplaced
    assert unplaced.pod_uid == "huge"
    assert unplaced.code is UnschedulableCode.NO_MATCHING_OFFERING
    assert result.pods_run == 1


def test_batches_of_the_same_kinds_are_planned_once():
    # Each pod fills a small node, so none fits a live node and each batch goes to the planner.
    pods = [run(request(f"p{i}", cpu_millis=2000), i * 10, 3600) for i in range(5)]
    result = replay(pods, catalog(), ON_DEMAND_ONLY, Timing())
    assert len(result.nodes) == 5
    assert result.plan_calls == 1


def test_pod_uids_must_be_unique():
    with pytest.raises(ValueError):
        replay([run(request("a"), 0, 10), run(request("a"), 5, 10)], catalog(), ON_DEMAND_ONLY, Timing())


def test_consolidation_moves_pods_from_four_small_nodes_to_one_cheaper_large_node():
    # Four 2-vCPU pods arrive one by one: each gets a small node (4 x 0.36 $/h); one large node
    # (8 vCPU, 1.08 $/h) holds all four, so the hourly consolidation replaces them.
    pods = [run(request(f"p{i}", cpu_millis=2000), i * 10, i * 10 + 36_000) for i in range(4)]
    two_sizes = catalog(SMALL, LARGE)
    settings = Consolidation(interval_seconds=3600, min_savings=0.05, min_pod_age_seconds=0)
    plain = replay(pods, two_sizes, ON_DEMAND_ONLY, Timing())
    consolidated = replay(pods, two_sizes, ON_DEMAND_ONLY, Timing(), consolidation=settings)
    assert (consolidated.consolidations, consolidated.pods_moved) == (1, 4)
    large = [node for node in consolidated.nodes if node.instance_type == LARGE.name]
    assert len(large) == 1 and (large[0].launched_at, large[0].released_at) == (3600, 36_030)
    small_seconds = sum(3600 - i * 10 for i in range(4))
    expected = small_seconds * 0.36 / 3600 + (36_030 - 3600) * 1.08 / 3600
    assert consolidated.cost == pytest.approx(expected)
    assert consolidated.cost < plain.cost


def test_consolidation_leaves_young_pods_and_small_savings_alone():
    pods = [run(request(f"p{i}", cpu_millis=2000), i * 10, i * 10 + 36_000) for i in range(4)]
    two_sizes = catalog(SMALL, LARGE)
    too_young = Consolidation(interval_seconds=3600, min_pod_age_seconds=50_000)
    too_little = Consolidation(interval_seconds=3600, min_savings=0.5, min_pod_age_seconds=0)
    for settings in (too_young, too_little):
        result = replay(pods, two_sizes, ON_DEMAND_ONLY, Timing(), consolidation=settings)
        assert result.consolidations == 0
        assert len(result.nodes) == 4


def test_moved_pods_wait_for_the_replacement_to_boot_and_keep_their_end_time():
    pods = [run(request(f"p{i}", cpu_millis=2000), i * 10, i * 10 + 36_000) for i in range(4)]
    settings = Consolidation(interval_seconds=3600, min_pod_age_seconds=0)
    result = replay(
        pods, catalog(SMALL, LARGE), ON_DEMAND_ONLY, Timing(boot_seconds=90), consolidation=settings
    )
    small = [node for node in result.nodes if node.instance_type == SMALL.name]
    (large,) = [node for node in result.nodes if node.instance_type == LARGE.name]
    # Old nodes drain when the replacement is ready; the last pod still ends 36,000 s after it
    # started (at 30 + 90).
    assert {node.released_at for node in small} == {3600 + 90}
    assert large.released_at == 30 + 90 + 36_000


def test_another_provisioner_decides_in_place_of_the_planner_on_the_same_trace() -> None:
    """What bench/savings.py's Karpenter run rests on: `plan_with` takes every launch decision,
    consolidation's replacements included, and the replay meters its nodes the same way."""
    from lab.planner.baseline import karpenter_plan

    calls: list[int] = []

    def counted(snapshot, policy, cat):
        calls.append(len(snapshot.pods))
        return karpenter_plan(snapshot, policy, cat)

    pods = [ReplayPod(request(f"p{i}", 1000, 2), i * 10.0, 4000.0) for i in range(6)]
    result = replay(
        pods,
        catalog(SMALL, LARGE),
        ON_DEMAND_ONLY,
        Timing(),
        consolidation=Consolidation(600.0, min_savings=0.0, min_pod_age_seconds=0.0),
        plan_with=counted,
    )
    assert result.pods_run == 6 and not result.unplaced and result.cost > 0
    assert calls and result.plan_calls == len(calls)
