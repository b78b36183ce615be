"""`fill_then_burst`: fill tier 1 to its capacity, overflow to tier 2, 3…, and come back.

A cluster belongs to the first tier whose selector it matches; clusters in no tier are not used.
Inside a tier clusters are ordered by price plus weighted egress (as ``cheapest``), clusters
already running the workload winning near-ties by ``policy.stickiness``.

STEADY:
1. Scale-down removes replicas from the lowest tier first, most expensive cluster first.
2. Scale-up places the missing replicas in tier order, each cluster up to its free room, so a
   tier overflows only when it is full.
3. Return (Deployments only; moving a Job's pods would restart its work): for each tier from the
   top, if replicas run in lower tiers and the tier has free room, move back
   ``min(replicas below, room − headroom)`` where ``headroom = max(1, ceil(return_headroom ·
   the workload's capacity in that tier))``. Moves happen only once the placement has been
   unchanged for ``return_after_seconds``. The two together are the anti-flapping rule: the tier
   is never refilled to the brim the moment it frees up (which would overflow again on the next
   small change), and a placement that just moved is left alone for a while.
FRESH places the whole count in tier order, without the headroom rule.
"""

from __future__ import annotations

import math

import numpy as np

from engines.federation.allocation import Allocation, fill, kept_replicas, trim
from engines.federation.candidates import Candidates
from engines.federation.fleet import FloatArray, IntArray
from engines.federation.model import WorkloadKind
from engines.federation.policy import AssignmentMode, BurstSettings
from engines.federation.strategies.ordered import PRICE_MEANING, price_ranker

_TIER_STEP = 1e9


def fill_then_burst(candidates: Candidates, mode: AssignmentMode) -> Allocation:
    settings = candidates.policy.burst
    assert settings is not None  # PlacementPolicy guarantees tiers for this strategy
    tiers, considered, considered_tiers = tier_index(candidates, settings)
    desired = candidates.desired
    key, scores = price_ranker(candidates)(candidates.available, desired)
    # Tier first, then price (dollars per replica-hour stay far below the tier step).
    tiered_key = considered_tiers * _TIER_STEP + key[considered]
    keys: tuple[FloatArray | IntArray, ...] = (candidates.tie[considered], tiered_key)
    if candidates.has_holders:
        keys = (candidates.tie[considered], -candidates.holders[considered], tiered_key)
    order = considered[np.lexsort(keys)]
    order_list = order.tolist()
    held = dict(candidates.held)
    notes: dict[int, str] = {}

    if mode is AssignmentMode.FRESH:
        replicas: dict[int, int] = {}
        if sum(held.values()) > desired:
            trim(replicas, held, sum(held.values()) - desired, ())
        fill(order_list, candidates.available, desired - sum(held.values()), replicas)
    else:
        replicas = {
            offset: count for offset, count in kept_replicas(candidates).items() if tiers[offset] >= 0
        }
        running = sum(replicas.values()) + sum(held.values())
        if running > desired:
            trim(replicas, held, running - desired, order_list[::-1])
        elif running < desired:
            fill(order_list, candidates.fit, desired - running, replicas)
        if _may_return(candidates, settings):
            _return_to_higher_tiers(replicas, tiers, candidates.available, order_list, settings, notes)

    top = 0
    for offset, count in replicas.items():
        top += count if tiers[offset] == 0 else 0
        notes.setdefault(offset, f"tier {tiers[offset] + 1}")
    summary = f"{top} in tier 1, {sum(replicas.values()) - top} burst to lower tiers"
    return Allocation(replicas, held, order, scores, PRICE_MEANING, summary, notes)


def _may_return(candidates: Candidates, settings: BurstSettings) -> bool:
    return may_return(candidates.workload.kind, candidates.seconds_since_change, settings)


def may_return(kind: WorkloadKind, seconds_since_change: float | None, settings: BurstSettings) -> bool:
    """Replicas come back to higher tiers only for Deployments, and only once the placement has
    been unchanged for ``return_after_seconds`` (None: unknown, long enough)."""
    if kind is not WorkloadKind.DEPLOYMENT:
        return False
    return seconds_since_change is None or seconds_since_change >= settings.return_after_seconds


def _return_to_higher_tiers(
    replicas: dict[int, int],
    tiers: list[int],
    available: IntArray,
    order: list[int],
    settings: BurstSettings,
    notes: dict[int, str],
) -> None:
    for tier in range(len(settings.tiers) - 1):
        if not any(tiers[offset] > tier for offset in replicas):
            return
        below = [offset for offset in order if replicas.get(offset) and tiers[offset] > tier]
        below_total = sum(replicas[offset] for offset in below)
        if not below_total:
            return
        members = [offset for offset in order if tiers[offset] == tier]
        room = {offset: int(available[offset]) - replicas.get(offset, 0) for offset in members}
        capacity = sum(int(available[offset]) for offset in members)
        headroom = max(1, math.ceil(settings.return_headroom * capacity))
        movable = min(below_total, sum(room.values()) - headroom)
        if movable <= 0:
            continue
        caps = np.zeros(len(available), dtype=np.int64)
        for offset, free in room.items():
            caps[offset] = free
        before = dict(replicas)
        fill(members, caps, movable, replicas)
        trim(replicas, {}, movable, below[::-1])
        for offset in members:
            if replicas.get(offset, 0) > before.get(offset, 0):
                notes[offset] = f"tier {tier + 1}, {replicas[offset] - before.get(offset, 0)} moved back"


def tier_index(candidates: Candidates, settings: BurstSettings) -> tuple[list[int], IntArray, IntArray]:
    """Per offset, the index of the first tier whose selector matches the cluster (-1: none);
    the offsets in some tier; and their tiers (memoised per selector and tiers)."""
    fleet = candidates.fleet
    indices = candidates.indices

    def compute() -> tuple[list[int], IntArray, IntArray]:
        tiers = []
        for index in indices.tolist():
            labels = fleet.cluster(index).labels
            tiers.append(next((tier for tier, sel in enumerate(settings.tiers) if sel.matches(labels)), -1))
        considered = np.asarray([offset for offset, tier in enumerate(tiers) if tier >= 0], dtype=np.int64)
        return tiers, considered, np.asarray(tiers, dtype=np.int64)[considered]

    return fleet.memo(
        ("tiers", candidates.policy.selector, candidates.workload.kind, settings.tiers), compute
    )
