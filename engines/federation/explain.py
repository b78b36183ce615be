"""Reasons a person can act on when replicas could not be placed.

Only called on the slow path (something did not fit), so clarity beats speed here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from engines.federation.allocation import Allocation
from engines.federation.candidates import Candidates
from engines.federation.fleet import FilterReason, Fleet, IntArray, filter_reason
from engines.federation.model import (
    ClusterSnapshot,
    NodelessPricing,
    Resources,
    WorkloadKind,
    cpu_text,
    memory_text,
)
from engines.federation.policy import ClusterSelector, Strategy
from engines.federation.strategies.burst import tier_index
from engines.federation.strategies.ordered import pinned_offsets

_SHOWN = 3


def explain_unplaced(candidates: Candidates, allocation: Allocation, unplaced: int) -> str:
    """From the most basic cause (no member matches) to the most specific (strategy limits)."""
    fleet = candidates.fleet
    policy = candidates.policy
    if len(fleet) == 0:
        return "no member clusters are connected"
    if len(candidates.indices) == 0:
        return explain_filter(fleet.clusters, policy.selector, candidates.workload.kind)
    scope, usable = "eligible", np.arange(len(candidates.indices))
    if policy.strategy is Strategy.PINNED:
        pinned = _explain_pinned(candidates)
        if pinned:
            return pinned
        scope, usable = "pinned", np.asarray(pinned_offsets(candidates), dtype=np.int64)
    if candidates.avoided == len(candidates.indices):
        return "every matching cluster is avoided by the federation loop after failures: " + _names(
            candidates, usable
        )
    if policy.strategy is Strategy.FILL_THEN_BURST and policy.burst is not None:
        usable = tier_index(candidates, policy.burst)[1]
        if not len(usable):
            tiers = "; ".join(tier.describe() for tier in policy.burst.tiers)
            return f"no eligible cluster is in any burst tier (tiers: {tiers})"
        scope = "burst-tier"
    available = candidates.available[usable]
    request = candidates.workload.requests
    desired = candidates.desired
    if not available.any():
        shown = candidates.indices[usable[:_SHOWN]].tolist()
        shortages = [_shortage(fleet, index, request) for index in shown]
        more = len(usable) - _SHOWN
        tail = f"; {more} more" if more > 0 else ""
        return f"no {scope} cluster has room for one replica ({request.describe()}): {'; '.join(shortages)}{tail}"
    if allocation.failure:
        return allocation.failure
    if policy.strategy is Strategy.DUPLICATE:
        return f"no {scope} cluster has room for all {desired} replicas: {_room_list(candidates, usable)}"
    return (
        f"{unplaced} of {desired} replicas found no room: {scope} clusters have room for "
        f"{int(available.sum())} more ({_room_list(candidates, usable)})"
    )


def explain_filter(clusters: Sequence[ClusterSnapshot], selector: ClusterSelector, kind: WorkloadKind) -> str:
    """Why no cluster passed the filter: the selector term that rules the rest out, with the values
    the clusters have instead; or, when the selector matches, what stops each matching cluster."""
    matching = [cluster for cluster in clusters if selector.matches(cluster.labels)]
    if matching:
        reasons = [
            f"{cluster.name} {filter_reason(cluster, selector, kind)}" for cluster in matching[:_SHOWN]
        ]
        more = f", {len(matching) - _SHOWN} more" if len(matching) > _SHOWN else ""
        if selector.expressions:
            verb = "matches" if len(matching) == 1 else "match"
            who = f"{_count(len(matching))} {verb} {selector.describe()} but none"
        else:
            who = f"none of the {_count(len(matching))}"
        return f"{who} can run a {kind}: {', '.join(reasons)}{more}"
    remaining = list(clusters)
    used: list[str] = []
    for expression in selector.expressions:
        passing = [cluster for cluster in remaining if expression.matches(cluster.labels)]
        if not passing:
            values = Counter(cluster.labels.get(expression.key) for cluster in remaining)
            parts = [
                f"{_count(count)} {'has' if count == 1 else 'have'} "
                + (f"{expression.key}={value}" if value is not None else f"no {expression.key} label")
                for value, count in values.most_common(4)
            ]
            scope = f" (of the {_count(len(remaining))} matching {', '.join(used)})" if used else ""
            return f"no cluster matches selector {selector.describe()}: {', '.join(parts)}{scope}"
        remaining = passing
        used.append(expression.describe())
    return f"no cluster matches selector {selector.describe()}"  # pragma: no cover - loop always returns


def _explain_pinned(candidates: Candidates) -> str | None:
    fleet = candidates.fleet
    policy = candidates.policy
    problems = []
    for name in policy.pinned:
        index = fleet.lookup(name)
        if index is None:
            problems.append(f"{name} is not a member cluster")
            continue
        offset = candidates.offset_of(index)
        if offset is None:
            reason = filter_reason(fleet.cluster(index), policy.selector, candidates.workload.kind)
            problems.append(f"{name} {reason}")
        elif offset in pinned_offsets(candidates) and not candidates.available[offset]:
            problems.append(_shortage(fleet, index, candidates.workload.requests))
    if not problems:
        return None
    return "pinned clusters cannot take it: " + "; ".join(problems)


def _shortage(fleet: Fleet, index: int, request: Resources) -> str:
    cluster = fleet.cluster(index)
    if isinstance(cluster.pricing, NodelessPricing) and not fleet.cost_model(request).placeable[index]:
        largest = max(cluster.pricing.shapes, key=lambda shape: shape.allocatable.cpu_millicores)
        return f"{cluster.name}: no node shape fits one replica (largest: {largest.allocatable.describe()})"
    cpu, memory, gpu, pods = fleet.free_of(index)
    limits = []
    if request.cpu_millicores:
        limits.append((cpu // request.cpu_millicores, f"CPU ({cpu_text(cpu)} free)"))
    if request.memory_mib:
        limits.append((memory // request.memory_mib, f"memory ({memory_text(memory)} free)"))
    if request.gpu:
        limits.append((gpu // request.gpu, f"GPU ({gpu} free)"))
    limits.append((pods, f"pod slots ({pods} free)"))
    fits, what = min(limits, key=lambda limit: limit[0])
    if fits > 0:
        return f"{cluster.name}: {FilterReason.AVOIDED}"
    return f"{cluster.name}: short of {what}"


def _room_list(candidates: Candidates, usable: IntArray) -> str:
    available = candidates.available[usable]
    best = usable[np.argsort(-available, kind="stable")[:_SHOWN]].tolist()
    shown = [
        f"{candidates.fleet.name_of(int(candidates.indices[offset]))}: {int(candidates.available[offset])}"
        for offset in best
    ]
    return ", ".join(shown)


def _names(candidates: Candidates, offsets: IntArray) -> str:
    names = [candidates.fleet.name_of(int(candidates.indices[offset])) for offset in offsets.tolist()]
    return ", ".join(names[:_SHOWN]) + (f", {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _count(count: int) -> str:
    return f"{count} cluster" if count == 1 else f"{count} clusters"
