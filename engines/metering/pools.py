"""The static-pool baseline: hand-curated on-demand node pools sized for the peak.

A team without Nodeless keeps a node pool of one on-demand instance type (and a second pool of one
NVIDIA GPU type when GPU pods run: a candidate's `allocatable.gpus` counts only GPUs that can hold
`nvidia.com/gpu` pods, see `clusters.pricing.gpus`), with enough nodes for the peak it has to hold, on all the time.
`cheapest_pool(demand, candidates)`:

1. for every candidate type that fits the largest pod, the nodes needed are the largest of
   peak CPU / allocatable CPU, peak memory / allocatable memory, peak GPUs / GPUs per node and
   peak pods / max pods per node, rounded up;
2. the pool is the candidate with the lowest nodes × price (the first such one on a tie).

Because the count is a maximum of per-resource terms, sizing for the peak of a window only needs
the peak of each resource (what the rollups keep), not the moment each peak happened. Packing
fragmentation is ignored, so this is a lower estimate of what such a pool costs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engines.metering.model import PoolDemand, Quantities
from engines.metering.rates import split_node_price

# Demand is a time-weighted float; this much above a whole node is noise, not one more node.
_ROUNDING_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class PoolCandidate:
    """An on-demand instance type at the organization's price, with what pods can use of it."""

    instance_type: str
    price_per_hour: float
    allocatable: Quantities
    max_pods: int

    def holds(self, demand: PoolDemand) -> bool:
        return (
            demand.largest_cpu <= self.allocatable.cpu
            and demand.largest_memory_gib <= self.allocatable.memory_gib
            and demand.largest_gpus <= self.allocatable.gpus
            and (demand.gpus <= 0 or self.allocatable.gpus > 0)
            and (demand.cpu <= 0 or self.allocatable.cpu > 0)
            and (demand.memory_gib <= 0 or self.allocatable.memory_gib > 0)
        )

    def nodes_for(self, demand: PoolDemand) -> int:
        terms = [demand.pods / max(self.max_pods, 1)]
        for needed, per_node in (
            (demand.cpu, self.allocatable.cpu),
            (demand.memory_gib, self.allocatable.memory_gib),
            (demand.gpus, self.allocatable.gpus),
        ):
            if needed > 0:
                terms.append(needed / per_node)  # `holds` guarantees per_node > 0 here
        return math.ceil(max(terms) - _ROUNDING_SLACK)


@dataclass(frozen=True, slots=True)
class StaticPool:
    instance_type: str
    nodes: int
    price_per_hour: float
    allocatable: Quantities = Quantities()  # of one node

    @property
    def cost_per_hour(self) -> float:
        return self.nodes * self.price_per_hour


def pool_pods_cost(cpu_pool: StaticPool, gpu_pool: StaticPool, requested_hours: Quantities) -> float:
    """What the pods' requests cost of the pools over the window, the rest being the pools' own idle
    capacity: the requested core-, GiB- and GPU-hours at the per-resource rates split from a pool
    node's price (OpenCost's model, as actual spend is allocated; GPUs at the GPU pool's rate, CPU and
    memory at the CPU pool's). A pool sized for the peak holds at least the requests at every
    moment, so this never exceeds what the pools cost over the metered hours (capped all the same)."""
    cpu_rates = split_node_price(cpu_pool.price_per_hour, cpu_pool.allocatable)
    gpu_rates = split_node_price(gpu_pool.price_per_hour, gpu_pool.allocatable)
    return (
        requested_hours.cpu * cpu_rates.cpu
        + requested_hours.memory_gib * cpu_rates.memory_gib
        + requested_hours.gpus * gpu_rates.gpu
    )


NO_POOL = StaticPool("", 0, 0.0)


class CandidateTable:
    """Candidates as arrays, so sizing a pool is a few vector operations: a report sizes one pool per
    cluster, and pages have a time budget. Ties go to the earlier candidate."""

    def __init__(self, candidates: Sequence[PoolCandidate]) -> None:
        self.candidates = tuple(candidates)
        self.price = np.array([c.price_per_hour for c in self.candidates], dtype=float)
        self.cpu = np.array([c.allocatable.cpu for c in self.candidates], dtype=float)
        self.memory = np.array([c.allocatable.memory_gib for c in self.candidates], dtype=float)
        self.gpus = np.array([c.allocatable.gpus for c in self.candidates], dtype=float)
        self.pods = np.array([max(c.max_pods, 1) for c in self.candidates], dtype=float)

    def cheapest(self, demand: PoolDemand) -> StaticPool | None:
        """The cheapest single-type pool for `demand` (NO_POOL when there is no demand); None when
        no candidate holds the largest pod."""
        if demand.empty:
            return NO_POOL
        fits = (
            (self.cpu >= demand.largest_cpu)
            & (self.memory >= demand.largest_memory_gib)
            & (self.gpus >= demand.largest_gpus)
        )
        terms = [demand.pods / self.pods]
        for needed, per_node in (
            (demand.cpu, self.cpu),
            (demand.memory_gib, self.memory),
            (demand.gpus, self.gpus),
        ):
            if needed > 0:
                fits &= per_node > 0
                terms.append(needed / np.where(per_node > 0, per_node, 1.0))
        if not fits.any():
            return None
        nodes = np.ceil(np.max(terms, axis=0) - _ROUNDING_SLACK)
        best = int(np.argmin(np.where(fits, nodes * self.price, np.inf)))
        chosen = self.candidates[best]
        return StaticPool(chosen.instance_type, int(nodes[best]), float(self.price[best]), chosen.allocatable)


def cheapest_pool(
    demand: PoolDemand, candidates: Sequence[PoolCandidate] | CandidateTable
) -> StaticPool | None:
    """See `CandidateTable.cheapest`."""
    table = candidates if isinstance(candidates, CandidateTable) else CandidateTable(candidates)
    return table.cheapest(demand)


def pareto_candidates(candidates: Sequence[PoolCandidate]) -> tuple[PoolCandidate, ...]:
    """Drop every candidate that another, no dearer one matches or beats on every resource: it can
    never be the cheapest pool (fewer candidates keep report pages fast)."""
    ordered = sorted(candidates, key=lambda c: (c.price_per_hour, c.instance_type))
    kept: list[PoolCandidate] = []
    for candidate in ordered:
        if not any(_dominates(other, candidate) for other in kept):
            kept.append(candidate)
    return tuple(kept)


def _dominates(other: PoolCandidate, candidate: PoolCandidate) -> bool:
    return (
        other.price_per_hour <= candidate.price_per_hour
        and other.allocatable.cpu >= candidate.allocatable.cpu
        and other.allocatable.memory_gib >= candidate.allocatable.memory_gib
        and other.allocatable.gpus >= candidate.allocatable.gpus
        and other.max_pods >= candidate.max_pods
    )
