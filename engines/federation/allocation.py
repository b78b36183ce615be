"""What a strategy returns, and the steady-assignment moves every strategy shares.

STEADY assignment (Karmada's default, and ours):
- scale-up, including first placement: keep every kept replica, place only the missing ones;
- scale-down: only remove replicas, never start new ones elsewhere;
- equal: nothing moves (fill_then_burst's return rule is the one deliberate exception).
FRESH assignment re-plans the whole count, with the stickiness bonus keeping near-ties in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from engines.federation.candidates import Candidates
from engines.federation.fleet import FloatArray, IntArray
from engines.federation.policy import AssignmentMode


@dataclass(slots=True)
class Allocation:
    """A strategy's answer, in candidate offsets (``held`` is keyed by fleet index)."""

    replicas: dict[int, int]
    held: dict[int, int]
    preference: IntArray
    scores: FloatArray
    score_meaning: str
    summary: str
    notes: dict[int, str] = field(default_factory=dict)
    failure: str | None = None
    per_cluster_target: int | None = None


# (caps, replicas to place) -> (sort key where lower wins, score shown in the decision)
Ranker = Callable[[IntArray, int], tuple[FloatArray, FloatArray]]


def preference_order(key: FloatArray, candidates: Candidates) -> IntArray:
    """Offsets sorted by ``key`` ascending; ties prefer clusters already running the workload,
    then the workload's stable name order."""
    if not candidates.has_holders:
        order: IntArray = np.lexsort((candidates.tie, key))
        return order
    return np.lexsort((candidates.tie, -candidates.holders, key))


def fill(order: Iterable[int], caps: IntArray, count: int, into: dict[int, int]) -> int:
    """Add up to ``count`` replicas in ``order``, each cluster up to its cap. Returns how many."""
    remaining = count
    for offset in order:
        if remaining <= 0:
            break
        room = int(caps[offset])
        if room > 0:
            take = min(room, remaining)
            into[offset] = into.get(offset, 0) + take
            remaining -= take
    return count - remaining


def trim(replicas: dict[int, int], held: dict[int, int], excess: int, removal_order: Iterable[int]) -> None:
    """Remove ``excess`` replicas: first from held clusters (nobody can see them run), then from
    ``replicas`` in ``removal_order``."""
    for index in sorted(held):
        if excess <= 0:
            return
        take = min(held[index], excess)
        held[index] -= take
        excess -= take
        if not held[index]:
            del held[index]
    for offset in removal_order:
        if excess <= 0:
            return
        count = replicas.get(offset, 0)
        if count:
            take = min(count, excess)
            replicas[offset] = count - take
            excess -= take
            if not replicas[offset]:
                del replicas[offset]


def kept_replicas(candidates: Candidates) -> dict[int, int]:
    current = candidates.current
    return {offset: int(current[offset]) for offset in current.nonzero()[0].tolist()}


def assign_in_order(
    candidates: Candidates, rank: Ranker, mode: AssignmentMode
) -> tuple[dict[int, int], dict[int, int], IntArray, FloatArray]:
    """Place replicas in preference order (cheapest, most_capacity, inside a burst tier)."""
    desired = candidates.desired
    held = dict(candidates.held)
    held_total = sum(held.values())
    if mode is AssignmentMode.FRESH:
        replicas: dict[int, int] = {}
        if held_total > desired:
            trim(replicas, held, held_total - desired, ())
        key, scores = rank(candidates.available, desired)
        order = preference_order(key, candidates)
        fill(order.tolist(), candidates.available, desired - sum(held.values()), replicas)
        return replicas, held, order, scores

    replicas = kept_replicas(candidates)
    running = sum(replicas.values()) + held_total
    if running >= desired:
        key, scores = rank(candidates.available, desired)
        order = preference_order(key, candidates)
        trim(replicas, held, running - desired, order[::-1].tolist())
    else:
        key, scores = rank(candidates.fit, desired - running)
        order = preference_order(key, candidates)
        fill(order.tolist(), candidates.fit, desired - running, replicas)
    return replicas, held, order, scores
