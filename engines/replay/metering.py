"""Billing arithmetic: per-second billing with a minimum charge, totals by capacity type, and
the cost time series.

A node is billed from its launch to its release, per second, and at least the minimum charge
(EC2 Linux and Fargate both bill per second with a one-minute minimum). The time series
spreads each node's billed seconds evenly from its launch, so a node released before the
minimum is charged in the bucket(s) right after its launch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from engines.planner import CapacityType
from engines.replay.model import SECONDS_PER_HOUR, CapacityUsage, CostSeries, MeteredNode


def billed_seconds(launched_at: float, released_at: float, minimum_seconds: float) -> float:
    return max(released_at - launched_at, minimum_seconds)


def usage_by_capacity_type(nodes: Iterable[MeteredNode]) -> dict[CapacityType, CapacityUsage]:
    totals: dict[CapacityType, tuple[float, float, float]] = {}
    for node in nodes:
        seconds, cost, effective = totals.get(node.capacity_type, (0.0, 0.0, 0.0))
        totals[node.capacity_type] = (
            seconds + node.billed_seconds,
            cost + node.cost,
            effective + node.effective_cost,
        )
    return {kind: CapacityUsage(*figures) for kind, figures in sorted(totals.items())}


def cost_series(nodes: Iterable[MeteredNode], origin: float, bucket_seconds: int) -> CostSeries:
    """Billed cost per bucket of `bucket_seconds`, the first bucket starting at `origin`."""
    costs: list[float] = []
    for node in nodes:
        rate = node.price_per_hour / SECONDS_PER_HOUR
        start, end = node.launched_at, node.launched_at + node.billed_seconds
        first = max(int(math.floor((start - origin) / bucket_seconds)), 0)
        last = max(int(math.ceil((end - origin) / bucket_seconds)), first + 1)
        if len(costs) < last:
            costs.extend([0.0] * (last - len(costs)))
        for bucket in range(first, last):
            low = origin + bucket * bucket_seconds
            overlap = min(end, low + bucket_seconds) - max(start, low)
            if overlap > 0:
                costs[bucket] += overlap * rate
    return CostSeries(origin, bucket_seconds, tuple(costs))
