"""Metering one interval of one cluster: node cost, pod cost allocation, idle, samples, pool demand.

`meter_interval(interval, nodes, pods)`:

1. Each node is billed for the part of the interval it ran (prorated to the second) at the price
   the organization pays; a node without a known price costs nothing and is reported as unpriced.
2. The node's price, and what an on-demand node of its shape would cost, are split into
   per-resource rates over its capacity (`rates.split_node_price`).
3. Each pod on a known node is charged max(request, usage) × those rates for the part of the
   interval both it and its node ran. Its serverless baseline is its serverless price for the same
   seconds; a pod no serverless shape holds keeps its actual cost in that baseline, so every
   baseline prices the same pods. Pods on unpriced nodes are left out of every cost.
4. If a node's pods were charged more than the node costs (usage above capacity), their charges
   are scaled down to the node's cost: pods never cost more than the node they run on.
5. What no pod was charged for is the node's idle cost, kept apart (one idle row per capacity type).
6. Charges are summed per (namespace, workload, capacity type of the node). Requested, allocatable
   and used resource-seconds, and the demand a static pool would have had to hold (time-weighted
   over the interval, GPU pods apart), come from the same spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from engines.metering.model import (
    SECONDS_PER_HOUR,
    Allocation,
    Interval,
    IntervalUsage,
    NodeCost,
    NodeSample,
    PodSample,
    PoolDemand,
    Quantities,
    ResourceSeconds,
)
from engines.metering.rates import split_node_price


@dataclass(frozen=True, slots=True)
class _PodCharge:
    pod: PodSample
    capacity_type: str
    seconds: float
    cost: float
    on_demand_cost: float
    serverless_cost: float | None  # None: priced as the pod's (scaled) actual cost


def _billed_span(interval: Interval, node: NodeSample) -> tuple[float, float]:
    return interval.overlap(node.started_at, node.stopped_at)


def _charge_pods(interval: Interval, node: NodeSample, pods: Iterable[PodSample]) -> list[_PodCharge]:
    node_start, node_end = _billed_span(interval, node)
    price = node.price_per_hour or 0.0
    on_demand_price = node.on_demand_price_per_hour if node.on_demand_price_per_hour is not None else price
    rates = split_node_price(price, node.capacity)
    on_demand_rates = split_node_price(on_demand_price, node.capacity)
    charges = []
    for pod in pods:
        start = node_start if pod.started_at is None else max(node_start, pod.started_at)
        end = node_end if pod.finished_at is None else min(node_end, pod.finished_at)
        seconds = max(end - start, 0.0)
        if seconds <= 0:
            continue
        hours = seconds / SECONDS_PER_HOUR
        serverless = None
        if not node.priced:
            serverless = 0.0
        elif pod.serverless_price_per_hour is not None:
            serverless = pod.serverless_price_per_hour * hours
        charges.append(
            _PodCharge(
                pod,
                node.billed_capacity_type,
                seconds,
                rates.hourly_cost(pod.allocated) * hours,
                on_demand_rates.hourly_cost(pod.allocated) * hours,
                serverless,
            )
        )
    return charges


def _capped(charges: list[_PodCharge], node_cost: float) -> list[_PodCharge]:
    """Scale the pods' charges down when together they exceed the node's cost (step 4)."""
    charged = sum(charge.cost for charge in charges)
    if charged <= node_cost or charged <= 0:
        return charges
    factor = node_cost / charged
    return [
        replace(charge, cost=charge.cost * factor, on_demand_cost=charge.on_demand_cost * factor)
        for charge in charges
    ]


class _Groups:
    """Running sums per (namespace, workload, capacity type, idle)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, bool], Allocation] = {}

    def add(self, key: tuple[str, str, str, bool], **amounts: float) -> None:
        row = self.rows.get(key) or Allocation(
            namespace=key[0], workload=key[1], capacity_type=key[2], idle=key[3]
        )
        self.rows[key] = replace(row, **{name: getattr(row, name) + value for name, value in amounts.items()})

    def sorted(self) -> tuple[Allocation, ...]:
        return tuple(self.rows[key] for key in sorted(self.rows))


class _Demand:
    """Time-weighted demand of the pods on priced nodes, for the static-pool baseline."""

    def __init__(self) -> None:
        self.requested = Quantities()
        self.pod_seconds = 0.0
        self.largest = Quantities()

    def add(self, pod: PodSample, seconds: float) -> None:
        self.requested = self.requested + pod.requests.scaled(seconds)
        self.pod_seconds += seconds
        self.largest = self.largest.maximum(pod.requests)

    def averaged(self, interval_seconds: float) -> PoolDemand:
        if self.pod_seconds <= 0:
            return PoolDemand()
        average = self.requested.scaled(1.0 / interval_seconds)
        return PoolDemand(
            cpu=average.cpu,
            memory_gib=average.memory_gib,
            gpus=average.gpus,
            pods=self.pod_seconds / interval_seconds,
            largest_cpu=self.largest.cpu,
            largest_memory_gib=self.largest.memory_gib,
            largest_gpus=self.largest.gpus,
        )


def meter_interval(
    interval: Interval, nodes: Sequence[NodeSample], pods: Sequence[PodSample]
) -> IntervalUsage:
    """Meter one interval (see the module docstring for the steps)."""
    pods_by_node: dict[str, list[PodSample]] = {}
    for pod in pods:
        pods_by_node.setdefault(pod.node_name, []).append(pod)
    groups = _Groups()
    node_costs: list[NodeCost] = []
    seconds_by_type: dict[str, float] = {}
    cost_by_type: dict[str, float] = {}
    requested = allocatable = used = Quantities()
    measured = 0.0
    cpu_demand, gpu_demand = _Demand(), _Demand()
    for node in nodes:
        start, end = _billed_span(interval, node)
        seconds = end - start
        if seconds <= 0:
            continue
        capacity_type = node.billed_capacity_type
        hours = seconds / SECONDS_PER_HOUR
        cost = (node.price_per_hour or 0.0) * hours
        on_demand_price = node.on_demand_price_per_hour
        on_demand_cost = cost if on_demand_price is None or not node.priced else on_demand_price * hours
        charges = _capped(_charge_pods(interval, node, pods_by_node.get(node.name, ())), cost)
        for charge in charges:
            pod = charge.pod
            groups.add(
                (pod.namespace, pod.workload, capacity_type, False),
                cost=charge.cost,
                on_demand_cost=charge.on_demand_cost,
                serverless_cost=charge.cost if charge.serverless_cost is None else charge.serverless_cost,
                cpu_requested=pod.requests.cpu * charge.seconds,
                memory_requested=pod.requests.memory_gib * charge.seconds,
                gpu_requested=pod.requests.gpus * charge.seconds,
                pod_seconds=charge.seconds,
                serverless_unfit_pod_seconds=charge.seconds if charge.serverless_cost is None else 0.0,
            )
            requested = requested + pod.requests.scaled(charge.seconds)
            used = used + (pod.requests if pod.usage is None else pod.usage).scaled(charge.seconds)
            measured += 0.0 if pod.usage is None else charge.seconds
            if node.priced:
                (gpu_demand if pod.is_gpu else cpu_demand).add(pod, charge.seconds)
        allocated = sum(charge.cost for charge in charges)
        allocated_on_demand = sum(charge.on_demand_cost for charge in charges)
        if node.priced:
            groups.add(
                ("", "", capacity_type, True),
                cost=max(cost - allocated, 0.0),
                on_demand_cost=max(on_demand_cost - allocated_on_demand, 0.0),
            )
        allocatable = allocatable + node.allocatable.scaled(seconds)
        seconds_by_type[capacity_type] = seconds_by_type.get(capacity_type, 0.0) + seconds
        cost_by_type[capacity_type] = cost_by_type.get(capacity_type, 0.0) + cost
        node_costs.append(
            NodeCost(
                name=node.name,
                instance_type=node.instance_type,
                capacity_type=capacity_type,
                zone=node.zone,
                managed_node_id=node.managed_node_id,
                price_per_hour=node.price_per_hour,
                seconds=seconds,
                cost=cost,
                on_demand_cost=on_demand_cost,
                allocated_cost=allocated,
            )
        )
    return IntervalUsage(
        interval=interval,
        nodes=tuple(node_costs),
        allocations=groups.sorted(),
        resources=ResourceSeconds(requested, allocatable, used, measured),
        cpu_pool=cpu_demand.averaged(interval.seconds),
        gpu_pool=gpu_demand.averaged(interval.seconds),
        node_seconds=seconds_by_type,
        node_costs=cost_by_type,
    )


def pod_cost_per_hour(pod: PodSample, node: NodeSample) -> float:
    """What the pod costs per hour on its node right now (before any capping by the node's cost)."""
    return split_node_price(node.price_per_hour or 0.0, node.capacity).hourly_cost(pod.allocated)
