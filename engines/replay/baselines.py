"""What the same pods would have cost without Nodeless: the savings report's baselines.

- Static pool: hand-curated node pools, i.e. the cheapest on-demand nodes that hold the
  peak concurrent demand, running for the whole span. Sized by (1) planning, with on-demand
  only, the pods alive at each peak moment (most pods, most CPU, most memory, most GPUs) and
  keeping the dearest plan, then (2) replaying the pods onto that pool with no scale-down:
  a moment the pool cannot hold (fragmentation, or a peak in another mix of resources) grows
  it, as an operator would have to. Every node of the final pool is paid for the whole span.
- On-demand only: the same packing and timing, with on-demand capacity only.
- Serverless only: every pod on its own serverless shape (e.g. Fargate); pods no shape
  holds (GPUs, very large pods) are reported as unplaced, not priced.

`split_placeable` finds the pods no offering of the catalog can hold under the policy (any
capacity type), so that every figure is computed for the same pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from engines.planner import (
    CapacityType,
    Catalog,
    OfferingChoice,
    Packing,
    PlannerPolicy,
    Resources,
    Unschedulable,
)
from engines.replay.cluster import footprint
from engines.replay.engine import replay
from engines.replay.model import NO_OVERHEAD, SECONDS_PER_HOUR, MeteredNode, ReplayPod, ReplayResult, Timing
from engines.replay.planning import ReplayPlanner


def with_capacity_types(policy: PlannerPolicy, *capacity_types: CapacityType) -> PlannerPolicy:
    return replace(policy, capacity_types=frozenset(capacity_types))


def split_placeable(
    pods: Sequence[ReplayPod],
    catalog: Catalog,
    policy: PlannerPolicy,
    daemonset_overhead: Resources = NO_OVERHEAD,
) -> tuple[tuple[ReplayPod, ...], tuple[Unschedulable, ...]]:
    """(pods some offering can hold, one reason per pod none can), planning each kind alone
    with every capacity type allowed."""
    planner = ReplayPlanner(catalog, with_capacity_types(policy, *CapacityType), daemonset_overhead)
    placeable: list[ReplayPod] = []
    excluded: list[Unschedulable] = []
    for pod in pods:
        reasons = planner.plan([pod.request], ()).unschedulable
        if reasons:
            excluded.extend(reasons)
        else:
            placeable.append(pod)
    return tuple(placeable), tuple(excluded)


@dataclass(frozen=True, slots=True)
class StaticPool:
    """A peak-sized on-demand pool, always on from the first arrival to the last departure."""

    nodes: tuple[OfferingChoice, ...]
    sized_at: float
    grown_by: int
    span_seconds: float
    unplaced: tuple[Unschedulable, ...]

    @property
    def cost_per_hour(self) -> float:
        return sum(node.price_per_hour for node in self.nodes)

    @property
    def cost(self) -> float:
        return self.cost_per_hour * self.span_seconds / SECONDS_PER_HOUR


def peak_moments(pods: Sequence[ReplayPod]) -> tuple[float, ...]:
    """The first moments with the most pods alive, and with the most CPU, memory and GPUs
    requested by the pods alive (a pod is alive from its arrival, until its departure)."""
    events = sorted(
        [(pod.arrival, 1, footprint(pod.request)) for pod in pods]
        + [(pod.departure, -1, footprint(pod.request)) for pod in pods],
        key=lambda event: (event[0], event[1]),  # departures first at equal times
    )
    totals = [0, 0, 0, 0]
    best = [-1, -1, -1, -1]
    moments = [0.0, 0.0, 0.0, 0.0]
    for index, (time, sign, taken) in enumerate(events):
        for axis, amount in enumerate((1, taken.cpu_millis, taken.memory_mib, taken.gpus)):
            totals[axis] += sign * amount
        if index + 1 < len(events) and events[index + 1][0] == time:
            continue  # measure only once every event of this instant is applied
        for axis in range(4):
            if totals[axis] > best[axis]:
                best[axis], moments[axis] = totals[axis], time
    return tuple(sorted(set(moments))) if pods else ()


def static_pool(
    pods: Sequence[ReplayPod],
    catalog: Catalog,
    policy: PlannerPolicy,
    *,
    daemonset_overhead: Resources = NO_OVERHEAD,
) -> StaticPool:
    """Size the static pool (see the module docstring); `policy` gives everything but the
    capacity types (on-demand only) and packing (pack)."""
    if not pods:
        return StaticPool((), 0.0, 0, 0.0, ())
    on_demand = replace(with_capacity_types(policy, CapacityType.ON_DEMAND), packing=Packing.PACK)
    planner = ReplayPlanner(catalog, on_demand, daemonset_overhead)
    best_cost, sized_at = -1.0, 0.0
    pool: tuple[OfferingChoice, ...] = ()
    for moment in peak_moments(pods):
        alive = [pod.request for pod in pods if pod.arrival <= moment < pod.departure]
        peak_plan = planner.plan(alive, ())
        if peak_plan.billed_cost_per_hour > best_cost:
            best_cost, sized_at = peak_plan.billed_cost_per_hour, moment
            pool = tuple(launch.chosen for launch in peak_plan.launches)
    keep_every_node = Timing(scale_down_seconds=None)
    held = replay(
        pods, catalog, on_demand, keep_every_node, initial_nodes=pool, daemonset_overhead=daemonset_overhead
    )
    nodes = tuple(_choice(node) for node in held.nodes)
    span = max(pod.departure for pod in pods) - min(pod.arrival for pod in pods)
    return StaticPool(nodes, sized_at, len(nodes) - len(pool), span, held.unplaced)


def _choice(node: MeteredNode) -> OfferingChoice:
    return OfferingChoice(
        node.instance_type, node.zone, node.capacity_type, node.price_per_hour, node.effective_price_per_hour
    )


@dataclass(frozen=True, slots=True)
class SavingsBaselines:
    static_pool: StaticPool
    on_demand_only: ReplayResult
    serverless_only: ReplayResult


def savings_baselines(
    pods: Sequence[ReplayPod],
    catalog: Catalog,
    policy: PlannerPolicy,
    timing: Timing,
    *,
    daemonset_overhead: Resources = NO_OVERHEAD,
) -> SavingsBaselines:
    """The three baselines for `pods`, with the policy's packing and the same timing."""
    return SavingsBaselines(
        static_pool=static_pool(pods, catalog, policy, daemonset_overhead=daemonset_overhead),
        on_demand_only=replay(
            pods,
            catalog,
            with_capacity_types(policy, CapacityType.ON_DEMAND),
            timing,
            daemonset_overhead=daemonset_overhead,
        ),
        serverless_only=replay(
            pods,
            catalog,
            with_capacity_types(policy, CapacityType.SERVERLESS),
            timing,
            daemonset_overhead=daemonset_overhead,
        ),
    )
