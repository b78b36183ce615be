"""Metering arithmetic against hand-computed cases: prorating, discounts, allocation, idle, baselines."""

from __future__ import annotations

import pytest

from engines.kube.capacity import CapacityType
from engines.metering import (
    UNPRICED,
    Interval,
    NodeSample,
    PodSample,
    Quantities,
    meter_interval,
    split_node_price,
)
from engines.metering.rates import CPU_TO_RAM, GPU_TO_RAM

MINUTE = Interval(1_000_000.0, 1_000_060.0)
T0 = MINUTE.start
PRICE = 0.096  # $/h paid for a 2-core, 8 GiB node
CAPACITY = Quantities(2, 8)


def node(
    name: str = "n1",
    *,
    price: float | None = PRICE,
    start: float | None = None,
    stop: float | None = None,
    capacity_type: str = CapacityType.ON_DEMAND,
    on_demand: float | None = None,
    capacity: Quantities = CAPACITY,
) -> NodeSample:
    return NodeSample(
        name=name,
        instance_type="m5.large",
        capacity_type=capacity_type,
        zone="us-east-1a",
        price_per_hour=price,
        on_demand_price_per_hour=on_demand,
        capacity=capacity,
        allocatable=capacity,
        started_at=start,
        stopped_at=stop,
    )


HALF = Quantities(1, 4)


def pod(name: str = "p1", *, node_name: str = "n1", requests: Quantities = HALF, **kwargs) -> PodSample:
    return PodSample(
        namespace="shop",
        name=name,
        workload="Deployment/web",
        node_name=node_name,
        requests=requests,
        **kwargs,
    )


def test_a_node_running_the_whole_interval_costs_its_price_for_sixty_seconds() -> None:
    usage = meter_interval(MINUTE, [node()], [])
    assert usage.node_cost == pytest.approx(0.096 / 60)
    assert usage.nodes[0].seconds == 60
    assert usage.node_seconds == {CapacityType.ON_DEMAND: 60}


@pytest.mark.parametrize(
    ("start", "stop", "seconds"),
    [
        (T0 + 15, None, 45),  # launched a quarter into the minute
        (None, T0 + 40, 40),  # terminated two thirds in
        (T0 + 10, T0 + 50, 40),  # both inside
        (T0 - 3600, T0 + 60.5, 60),  # running before and after
        (T0 + 60, None, 0),  # starts when the interval ends: not billed here
        (None, T0, 0),  # stopped when it began
    ],
)
def test_nodes_starting_or_stopping_inside_the_interval_are_prorated_to_the_second(
    start, stop, seconds
) -> None:
    usage = meter_interval(MINUTE, [node(start=start, stop=stop)], [])
    assert usage.node_cost == pytest.approx(0.096 * seconds / 3600)
    assert sum(usage.node_seconds.values()) == pytest.approx(seconds)


def test_a_discounted_node_is_billed_at_the_price_paid_and_the_on_demand_baseline_at_the_discounted_on_demand_price() -> (
    None
):
    # List prices: spot 0.04, on-demand 0.10; the organization has 25 % off spot and 10 % off on-demand.
    spot = node(price=0.04 * 0.75, on_demand=0.10 * 0.90, capacity_type=CapacityType.SPOT)
    usage = meter_interval(MINUTE, [spot], [pod(requests=Quantities(1, 4))])
    assert usage.node_cost == pytest.approx(0.03 / 60)
    assert usage.on_demand_cost == pytest.approx(0.09 / 60)  # pod half + idle half, both at on-demand
    (pod_row,) = [row for row in usage.allocations if not row.idle]
    assert pod_row.capacity_type == CapacityType.SPOT
    assert pod_row.cost == pytest.approx(0.03 / 60 / 2)
    assert pod_row.on_demand_cost == pytest.approx(0.09 / 60 / 2)


def test_the_node_price_splits_into_rates_that_add_up_to_it_opencost_ratios() -> None:
    rates = split_node_price(PRICE, CAPACITY)
    # OpenCost: ram price = node price / (cores × cpu_to_ram + GiB); cpu price = ram price × cpu_to_ram.
    memory_rate = 0.096 / (2 * 0.031611 / 0.004237 + 8)
    assert rates.memory_gib == pytest.approx(memory_rate)
    assert rates.cpu == pytest.approx(memory_rate * 0.031611 / 0.004237)
    assert rates.hourly_cost(CAPACITY) == pytest.approx(PRICE)
    gpu_rates = split_node_price(1.006, Quantities(4, 16, 1))
    assert gpu_rates.gpu == pytest.approx(1.006 / (GPU_TO_RAM + 4 * CPU_TO_RAM + 16) * GPU_TO_RAM)


def test_a_pod_requesting_half_the_node_is_charged_half_and_the_rest_is_idle() -> None:
    usage = meter_interval(MINUTE, [node()], [pod(requests=Quantities(1, 4))])
    minute_cost = 0.096 / 60
    assert usage.allocated_cost == pytest.approx(minute_cost / 2)
    assert usage.idle_cost == pytest.approx(minute_cost / 2)
    idle = [row for row in usage.allocations if row.idle]
    assert [(row.capacity_type, round(row.cost, 12)) for row in idle] == [
        (CapacityType.ON_DEMAND, round(minute_cost / 2, 12))
    ]
    assert usage.nodes[0].idle_cost == pytest.approx(minute_cost / 2)


def test_a_pod_is_charged_the_larger_of_its_request_and_its_usage_per_resource() -> None:
    measured = pod(requests=Quantities(0.5, 2), usage=Quantities(1, 1))
    usage = meter_interval(MINUTE, [node()], [measured])
    # Charged for 1 core (usage) and 2 GiB (request).
    share = (1 * CPU_TO_RAM + 2) / (2 * CPU_TO_RAM + 8)
    assert usage.allocated_cost == pytest.approx(0.096 / 60 * share)
    assert usage.resources.used.cpu == pytest.approx(60 * 1)  # core-seconds measured
    assert usage.resources.requested.cpu == pytest.approx(60 * 0.5)
    assert usage.resources.measured_pod_seconds == 60


def test_a_pod_that_starts_later_than_its_node_pays_from_its_start() -> None:
    usage = meter_interval(
        MINUTE, [node(start=T0 + 15)], [pod(requests=Quantities(1, 4), started_at=T0 + 30)]
    )
    assert usage.node_cost == pytest.approx(0.096 * 45 / 3600)
    assert usage.allocated_cost == pytest.approx(0.096 * 30 / 3600 / 2)
    assert usage.idle_cost == pytest.approx(0.096 * 45 / 3600 - 0.096 * 30 / 3600 / 2)


def test_pods_never_cost_more_than_their_node() -> None:
    greedy = [pod(f"p{i}", requests=Quantities(2, 8), usage=Quantities(3, 9)) for i in range(2)]
    usage = meter_interval(MINUTE, [node()], greedy)
    assert usage.allocated_cost == pytest.approx(0.096 / 60)
    assert usage.idle_cost == pytest.approx(0.0)


def test_the_serverless_baseline_uses_each_pods_serverless_price_and_actual_cost_when_none_fits() -> None:
    web = pod("web", requests=Quantities(1, 4), serverless_price_per_hour=0.0583)
    gpu = pod("gpu", requests=Quantities(0.5, 2), serverless_price_per_hour=None)
    usage = meter_interval(MINUTE, [node()], [web, gpu])
    gpu_cost = 0.096 / 60 / 4  # a quarter of the node
    assert usage.serverless_cost == pytest.approx(0.0583 / 60 + gpu_cost)


def test_pods_on_unpriced_nodes_cost_nothing_in_spend_and_in_every_baseline_but_count_as_requested() -> None:
    onprem = node(price=None)
    usage = meter_interval(MINUTE, [onprem], [pod(serverless_price_per_hour=0.05)])
    assert usage.node_cost == 0 and usage.on_demand_cost == 0 and usage.serverless_cost == 0
    assert usage.node_seconds == {UNPRICED: 60}
    assert usage.resources.requested.cpu == pytest.approx(60)
    assert usage.cpu_pool.empty  # no static pool is sized for pods we cannot price


def test_allocations_are_summed_per_namespace_workload_and_capacity_type() -> None:
    nodes = [node("a"), node("b", capacity_type=CapacityType.SPOT, price=0.03)]
    pods = [
        pod("p1", node_name="a"),
        pod("p2", node_name="a"),
        pod("p3", node_name="b"),
        pod("gone", node_name="not-a-node"),
    ]
    usage = meter_interval(MINUTE, nodes, pods)
    rows = {(row.workload, row.capacity_type, row.idle): row for row in usage.allocations}
    assert set(rows) == {
        ("Deployment/web", CapacityType.ON_DEMAND, False),
        ("Deployment/web", CapacityType.SPOT, False),
        ("", CapacityType.ON_DEMAND, True),
        ("", CapacityType.SPOT, True),
    }
    assert rows["Deployment/web", CapacityType.ON_DEMAND, False].pod_seconds == 120
    assert rows["Deployment/web", CapacityType.ON_DEMAND, False].cost == pytest.approx(
        0.096 / 60
    )  # two halves
    assert rows["", CapacityType.ON_DEMAND, True].cost == pytest.approx(0.0)


def test_static_pool_demand_is_the_time_weighted_request_with_gpu_pods_apart() -> None:
    pods = [
        pod("steady", requests=Quantities(1, 2)),
        pod("short", requests=Quantities(2, 4), started_at=T0 + 30),
        pod("trainer", requests=Quantities(1, 4, 1)),
    ]
    big = node(capacity=Quantities(8, 32, 1))
    usage = meter_interval(MINUTE, [big], pods)
    assert usage.cpu_pool.cpu == pytest.approx((60 * 1 + 30 * 2) / 60)
    assert usage.cpu_pool.memory_gib == pytest.approx((60 * 2 + 30 * 4) / 60)
    assert usage.cpu_pool.pods == pytest.approx(1.5)
    assert (usage.cpu_pool.largest_cpu, usage.cpu_pool.largest_memory_gib) == (2, 4)
    assert (usage.gpu_pool.gpus, usage.gpu_pool.largest_gpus, usage.gpu_pool.pods) == (1, 1, 1)
