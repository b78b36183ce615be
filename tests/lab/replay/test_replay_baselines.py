"""Baselines on small known traces: the static pool, on-demand only, serverless only, and the
exclusion of pods no offering holds."""

from __future__ import annotations

import pytest

from engines.planner import CapacityType, UnschedulableCode
from lab.replay import (
    ReplayPod,
    Timing,
    peak_moments,
    replay,
    savings_baselines,
    split_placeable,
    static_pool,
    with_capacity_types,
)
from tests.lab.replay.replay_builders import EVERYTHING, LARGE, MEMORY, SMALL, catalog, request

TRACE = (
    ReplayPod(request("a", 2000), 0, 3600),
    ReplayPod(request("b", 2000), 1800, 7200),
    ReplayPod(request("c", 1000), 5000, 6000),
)


def test_peak_moments_find_the_most_pods_and_the_most_cpu():
    pods = [
        ReplayPod(request("big", 4000), 0, 100),
        ReplayPod(request("s1", 500), 200, 300),
        ReplayPod(request("s2", 500), 200, 300),
    ]
    assert peak_moments(pods) == (0, 200)


def test_a_pod_leaving_as_another_arrives_does_not_count_as_concurrent():
    pods = [ReplayPod(request("a"), 0, 100), ReplayPod(request("b"), 100, 200)]
    assert peak_moments(pods) == (0,)


def test_the_static_pool_holds_the_peak_on_demand_for_the_whole_span():
    # At the peak (1800-3600 s) a and b need 4 vCPU: two small nodes (0.72 $/h) beat one large
    # (1.08 $/h); they also hold b and c later. The pool runs from 0 to 7200 s.
    pool = static_pool(TRACE, catalog(SMALL, LARGE, spot_discount=0.6), EVERYTHING)
    assert sorted(node.instance_type for node in pool.nodes) == [SMALL.name, SMALL.name]
    assert all(node.capacity_type is CapacityType.ON_DEMAND for node in pool.nodes)
    assert (pool.sized_at, pool.grown_by, pool.span_seconds) == (1800, 0, 7200)
    assert pool.cost == pytest.approx(0.72 * 2)


def test_the_static_pool_grows_when_another_moment_needs_another_shape():
    # Sized at the dearer peak (four 1-vCPU pods: two small nodes, 0.72 $/h), the pool cannot
    # hold the 20 GiB pod of the memory peak: the operator adds a memory node (0.5 $/h).
    pods = [ReplayPod(request(f"cpu{i}", 1000), 0, 100) for i in range(4)]
    pods.append(ReplayPod(request("memory", 500, 20), 200, 300))
    pool = static_pool(pods, catalog(SMALL, MEMORY), EVERYTHING)
    assert pool.sized_at == 0
    assert pool.grown_by == 1
    assert sorted(node.instance_type for node in pool.nodes) == sorted([SMALL.name, SMALL.name, MEMORY.name])
    assert pool.cost == pytest.approx((0.72 + 0.5) * 300 / 3600)


def test_on_demand_only_never_buys_spot():
    spot_catalog = catalog(SMALL, spot_discount=0.6)
    on_demand = replay(TRACE, spot_catalog, with_capacity_types(EVERYTHING, CapacityType.ON_DEMAND), Timing())
    nodeless = replay(TRACE, spot_catalog, EVERYTHING, Timing())
    assert set(on_demand.by_capacity_type) == {CapacityType.ON_DEMAND}
    assert set(nodeless.by_capacity_type) == {CapacityType.SPOT}
    assert nodeless.cost == pytest.approx(on_demand.cost * 0.4)


def test_serverless_only_prices_each_pod_on_its_rounded_fargate_shape():
    pods = [
        ReplayPod(request("web", 500, 1), 0, 3600),
        ReplayPod(request("trainer", 1000, 4, gpus=1), 0, 3600),
    ]
    serverless = with_capacity_types(EVERYTHING, CapacityType.SERVERLESS)
    result = replay(pods, catalog(SMALL, serverless=True), serverless, Timing())
    # 1 GiB + 256 MiB of overhead rounds up to the 0.5 vCPU / 2 GiB shape: 0.5*0.04 + 2*0.005.
    assert result.cost == pytest.approx(0.03)
    assert set(result.by_capacity_type) == {CapacityType.SERVERLESS}
    assert [item.pod_uid for item in result.unplaced] == ["trainer"]


def test_split_placeable_keeps_out_pods_no_offering_holds():
    pods = [ReplayPod(request("fits"), 0, 10), ReplayPod(request("huge", 64_000), 0, 10)]
    placeable, excluded = split_placeable(pods, catalog(SMALL, LARGE, serverless=True), EVERYTHING)
    assert [pod.uid for pod in placeable] == ["fits"]
    assert [(item.pod_uid, item.code) for item in excluded] == [
        ("huge", UnschedulableCode.NO_MATCHING_OFFERING)
    ]


def test_savings_baselines_price_the_same_pods_three_ways():
    two_sizes = catalog(SMALL, LARGE, spot_discount=0.6, serverless=True)
    baselines = savings_baselines(TRACE, two_sizes, EVERYTHING, Timing())
    assert baselines.static_pool.cost == pytest.approx(1.44)
    assert baselines.on_demand_only.pods_run == len(TRACE)
    assert set(baselines.on_demand_only.by_capacity_type) == {CapacityType.ON_DEMAND}
    assert set(baselines.serverless_only.by_capacity_type) == {CapacityType.SERVERLESS}
    # Every pod fits a Fargate shape here, and pods pay for their own time only.
    assert baselines.serverless_only.pods_run == len(TRACE)
    assert baselines.serverless_only.cost < baselines.static_pool.cost
