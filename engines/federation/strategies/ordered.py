"""Strategies that rank clusters and fill them in order, and the two that need no ranking.

- ``cheapest``: rank by $/replica-hour of the replicas a cluster would take (price of that many
  replicas there, plus weighted egress), fill the cheapest first and spill to the next.
- ``most_capacity``: rank by free replicas, fill the roomiest first and spill.
- ``duplicate``: every eligible cluster with room for all replicas runs all of them.
- ``pinned``: only the named clusters, divided evenly by Webster (capped by room).

Stickiness: a cluster already running the workload has its price discounted (cheapest) or its
room inflated (most_capacity) by ``policy.stickiness`` when ranking, so a rebalance moves
replicas only for a real gain.
"""

from __future__ import annotations

import numpy as np

from engines.federation.allocation import Allocation, Ranker, assign_in_order, preference_order, trim
from engines.federation.candidates import Candidates
from engines.federation.division import webster
from engines.federation.fleet import FloatArray, IntArray
from engines.federation.policy import AssignmentMode

PRICE_MEANING = "$/replica-hour of the replicas it would run, plus weighted egress (lower wins)"
ROOM_MEANING = "replicas of free room (higher wins)"


def price_ranker(candidates: Candidates) -> Ranker:
    eligible = candidates.eligible

    def rank(caps: IntArray, target: int) -> tuple[FloatArray, FloatArray]:
        per_replica = candidates.costs.per_replica(
            eligible.key, candidates.indices, caps, eligible.nodeless, eligible.nodeless_groups, target
        )
        egress = candidates.egress_per_replica()
        if egress is not None:
            per_replica += egress
        per_replica[caps == 0] = np.inf
        if candidates.has_holders:
            return per_replica * (1.0 - candidates.policy.stickiness * candidates.holders), per_replica
        return per_replica, per_replica

    return rank


def room_ranker(candidates: Candidates) -> Ranker:
    def rank(caps: IntArray, target: int) -> tuple[FloatArray, FloatArray]:
        room = caps.astype(np.float64)
        key = -room
        if candidates.has_holders:
            key *= 1.0 + candidates.policy.stickiness * candidates.holders
        key[caps == 0] = np.inf
        return key, room

    return rank


def cheapest(candidates: Candidates, mode: AssignmentMode) -> Allocation:
    replicas, held, order, scores = assign_in_order(candidates, price_ranker(candidates), mode)
    return Allocation(replicas, held, order, scores, PRICE_MEANING, "cheapest first")


def most_capacity(candidates: Candidates, mode: AssignmentMode) -> Allocation:
    replicas, held, order, scores = assign_in_order(candidates, room_ranker(candidates), mode)
    return Allocation(replicas, held, order, scores, ROOM_MEANING, "roomiest first")


def duplicate(candidates: Candidates, mode: AssignmentMode) -> Allocation:
    """A full copy in every eligible cluster with room for all replicas. In STEADY mode a running
    copy that cannot grow to a new, larger count keeps what fits instead of being torn down."""
    desired = candidates.desired
    available = candidates.available
    room = available.astype(np.float64)
    order = preference_order(-room, candidates)
    replicas: dict[int, int] = {}
    held: dict[int, int] = {}
    notes: dict[int, str] = {}
    if desired:
        replicas = {int(offset): desired for offset in (available >= desired).nonzero()[0].tolist()}
        held = {index: min(count, desired) for index, count in candidates.held.items()}
        if mode is AssignmentMode.STEADY and candidates.has_holders:
            for offset in ((candidates.current > 0) & (available < desired)).nonzero()[0].tolist():
                replicas[offset] = int(available[offset])
                notes[offset] = f"partial copy: room for {replicas[offset]} of {desired}"
    return Allocation(
        replicas,
        held,
        order,
        room,
        ROOM_MEANING,
        f"a full copy in every eligible cluster with room for {desired}",
        notes,
        per_cluster_target=desired,
    )


def pinned(candidates: Candidates, mode: AssignmentMode) -> Allocation:
    """Even split over the pinned clusters; recomputed whole each time, which Webster keeps
    house-monotone (scaling up never takes a replica from a pinned cluster)."""
    offsets = pinned_offsets(candidates)
    held = dict(candidates.held)
    held_total = sum(held.values())
    replicas: dict[int, int] = {}
    if held_total > candidates.desired:
        trim(replicas, held, held_total - candidates.desired, ())
    target = candidates.desired - sum(held.values())
    if offsets:
        seats = webster(
            target,
            [1] * len(offsets),
            candidates.tie[offsets].tolist(),
            caps=candidates.available[offsets].tolist(),
        )
        replicas = {offset: count for offset, count in zip(offsets, seats, strict=True) if count}
    room = candidates.available.astype(np.float64)
    # Only pinned clusters are worth listing as runner-ups.
    order = np.asarray(offsets, dtype=np.int64)[np.argsort(candidates.tie[offsets], kind="stable")]
    return Allocation(replicas, held, order, room, ROOM_MEANING, "split evenly over the pinned clusters")


def pinned_offsets(candidates: Candidates) -> list[int]:
    """Offsets of the candidates named by ``policy.pinned`` (by id or name), in fleet order."""
    found = (candidates.fleet.lookup(name) for name in candidates.policy.pinned)
    offsets = {
        offset for index in found if index is not None and (offset := candidates.offset_of(index)) is not None
    }
    return sorted(offsets)
