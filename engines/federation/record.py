"""Turn a strategy's ``Allocation`` into a ``ScheduleResult`` with its decision record."""

from __future__ import annotations

import math

import numpy as np

from engines.federation.allocation import Allocation
from engines.federation.candidates import Candidates
from engines.federation.decision import ClusterScore, Decision, Outcome, ScheduleResult, frozen_counts
from engines.federation.explain import explain_unplaced
from engines.federation.fleet import FilterReason
from engines.federation.model import CurrentPlacement
from engines.federation.policy import AssignmentMode, Strategy

_LISTED = 3
# Pricing a handful of clusters one by one beats array set-up; more than this are vectorised.
_VECTOR_FROM = 6
# Preference entries read beyond chosen + runner-ups, to step over clusters with no room.
_SLACK = 8


def build_result(
    candidates: Candidates,
    allocation: Allocation,
    mode: AssignmentMode,
    current: CurrentPlacement,
    runner_up_count: int,
) -> ScheduleResult:
    workload = candidates.workload
    available = candidates.available.tolist()
    chosen_offsets, runner_up_offsets = _listed_offsets(allocation, available, runner_up_count)
    chosen, runner_ups = _scores(candidates, allocation, available, chosen_offsets, runner_up_offsets)
    held = _held(candidates, allocation)
    replicas = {entry.cluster_id: entry.replicas for entry in chosen + held}
    chosen += held
    outcome, unplaced = _outcome(allocation, workload.replicas, sum(replicas.values()))
    decision = Decision(
        strategy=candidates.policy.strategy,
        mode=mode,
        outcome=outcome,
        reason=_reason(candidates, allocation, chosen, runner_ups, outcome, unplaced),
        score_meaning=allocation.score_meaning,
        chosen=tuple(chosen),
        runner_ups=tuple(runner_ups),
        filtered=_filtered(candidates),
        candidate_count=len(candidates.indices),
    )
    return ScheduleResult(
        workload_id=workload.id,
        desired=workload.replicas,
        replicas=frozen_counts(replicas),
        unplaced=unplaced,
        decision=decision,
        previous=frozen_counts(current.replicas),
    )


def _listed_offsets(
    allocation: Allocation, available: list[int], runner_up_count: int
) -> tuple[dict[int, int], list[int]]:
    """The chosen candidates (offset → replicas) in the strategy's preference order, and the
    runner-ups: the next preferred candidates with room (``available``: replicas each can take)."""
    chosen_offsets = allocation.replicas
    # Chosen clusters and runner-ups sit at the head of the preference: read only that part.
    head = len(chosen_offsets) + runner_up_count + _SLACK
    preference = allocation.preference[:head].tolist()
    runner_up_offsets = _runner_ups(preference, available, chosen_offsets, runner_up_count)
    if len(runner_up_offsets) < runner_up_count and len(allocation.preference) > head:
        preference = allocation.preference.tolist()
        runner_up_offsets = _runner_ups(preference, available, chosen_offsets, runner_up_count)
    if len(chosen_offsets) > 1:
        # Listed in the strategy's preference order (offsets outside it, if any, last).
        if not all(offset in preference for offset in chosen_offsets):
            preference = allocation.preference.tolist()
        position = {offset: rank for rank, offset in enumerate(preference)}
        chosen_offsets = {
            offset: chosen_offsets[offset]
            for offset in sorted(chosen_offsets, key=lambda offset: position.get(offset, len(position)))
        }
    return chosen_offsets, runner_up_offsets


def _scores(
    candidates: Candidates,
    allocation: Allocation,
    available: list[int],
    chosen_offsets: dict[int, int],
    runner_up_offsets: list[int],
) -> tuple[list[ClusterScore], list[ClusterScore]]:
    """Score entries of the chosen clusters and of the runner-ups."""
    # Chosen clusters are priced for what they run, runner-ups for what they could have taken.
    listed = list(chosen_offsets) + runner_up_offsets
    replicas = candidates.workload.replicas
    counts = list(chosen_offsets.values()) + [min(replicas, available[o]) for o in runner_up_offsets]
    score_of = allocation.scores
    index_of = candidates.indices
    scores = [_finite(float(score_of[offset])) for offset in listed]
    indices = [int(index_of[offset]) for offset in listed]
    prices, egress = _price(candidates, listed, indices, counts)
    notes = allocation.notes
    ids = candidates.fleet.ids
    names = candidates.fleet.names
    entries = [
        ClusterScore(
            ids[indices[position]],
            names[indices[position]],
            count if position < len(chosen_offsets) else 0,
            available[offset],
            _finite(prices[position]),
            egress[position],
            scores[position],
            notes.get(offset, ""),
        )
        for position, (offset, count) in enumerate(zip(listed, counts, strict=True))
    ]
    return entries[: len(chosen_offsets)], entries[len(chosen_offsets) :]


def _held(candidates: Candidates, allocation: Allocation) -> list[ClusterScore]:
    """Score entries of the replicas held where they run (``keep_current``: the sticky failure
    mode, or an unreachable cluster within its grace period)."""
    ids = candidates.fleet.ids
    names = candidates.fleet.names
    return [
        ClusterScore(
            ids[index],
            names[index],
            count,
            0,
            _finite(candidates.cost_of(index, count)),
            candidates.egress_of(index, count),
            None,
            f"kept while {candidates.held_reason[index]}",
        )
        for index, count in allocation.held.items()
    ]


def _outcome(allocation: Allocation, desired: int, placed: int) -> tuple[Outcome, int]:
    """The outcome and how many replicas are left unplaced (a per-cluster target places all or
    nothing: duplicate)."""
    if allocation.per_cluster_target is not None:
        unplaced = 0 if placed else desired
    else:
        unplaced = max(0, desired - placed)
    if unplaced == 0:
        return Outcome.PLACED, unplaced
    return (Outcome.PARTIAL if placed else Outcome.UNSCHEDULABLE), unplaced


def _name(candidates: Candidates, cluster_id: str) -> str:
    index = candidates.fleet.position_of_id(cluster_id)
    return cluster_id if index is None else candidates.fleet.names[index]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _runner_ups(preference: list[int], available: list[int], chosen: dict[int, int], count: int) -> list[int]:
    found: list[int] = []
    for offset in preference:
        if len(found) >= count:
            break
        if available[offset] > 0 and offset not in chosen:
            found.append(offset)
    return found


def _price(
    candidates: Candidates, offsets: list[int], indices: list[int], counts: list[int]
) -> tuple[list[float], list[float]]:
    """Price and weighted egress ($/hour) of ``counts[i]`` replicas in candidate ``offsets[i]``
    (fleet index ``indices[i]``)."""
    if len(offsets) > _VECTOR_FROM:
        everywhere = np.zeros(len(candidates.indices), dtype=np.int64)
        everywhere[offsets] = counts
        prices = candidates.replica_costs(everywhere, max(counts))[offsets].tolist()
    else:
        cost = candidates.costs.cost
        prices = [cost(index, count) for index, count in zip(indices, counts, strict=True)]
    workload = candidates.workload
    if workload.egress_source is None or workload.egress_gb_per_hour <= 0 or workload.replicas == 0:
        return prices, [0.0] * len(offsets)
    rates = candidates.fleet.egress_rates(workload.egress_source)[1]
    per_replica = workload.egress_gb_per_hour / workload.replicas * candidates.policy.egress_weight
    return prices, [count * per_replica * rates[index] for index, count in zip(indices, counts, strict=True)]


def _filtered(candidates: Candidates) -> tuple[tuple[FilterReason, int], ...]:
    filtered = candidates.eligible.filtered
    if candidates.avoided:
        filtered += ((FilterReason.AVOIDED, candidates.avoided),)
    available = candidates.available
    no_room = len(available) - int(np.count_nonzero(available)) - candidates.avoided
    if no_room:
        filtered += ((FilterReason.NO_ROOM, no_room),)
    return filtered


def _reason(
    candidates: Candidates,
    allocation: Allocation,
    chosen: list[ClusterScore],
    runner_ups: list[ClusterScore],
    outcome: Outcome,
    unplaced: int,
) -> str:
    strategy = candidates.policy.strategy
    if outcome is Outcome.UNSCHEDULABLE:
        return f"{strategy}: " + explain_unplaced(candidates, allocation, unplaced)
    if candidates.desired == 0:
        return f"{strategy}: scaled to zero"
    listed = ", ".join(f"{score.replicas} on {score.cluster_name}" for score in chosen[:_LISTED])
    if len(chosen) > _LISTED:
        listed += f" and {len(chosen) - _LISTED} more clusters"
    text = f"{strategy}: {listed} ({allocation.summary}"
    if strategy in (Strategy.CHEAPEST, Strategy.FILL_THEN_BURST):
        price = sum((score.price_per_hour or 0.0) + score.egress_per_hour for score in chosen)
        text += f", ${price:.4f}/h with egress"
    if runner_ups:
        best = runner_ups[0]
        text += f"; runner-up {best.cluster_name}"
        if strategy is Strategy.CHEAPEST:
            text += f" at ${(best.price_per_hour or 0.0) + best.egress_per_hour:.4f}/h"
        else:
            text += f" with room for {best.available_replicas}"
    text += ")"
    if candidates.dropped:
        moved = sum(count for count, _ in candidates.dropped.values())
        where = ", ".join(
            f"{_name(candidates, cluster)} {why}"
            for cluster, (_, why) in list(candidates.dropped.items())[:_LISTED]
        )
        text += f"; replaced {moved} replicas from clusters no longer usable ({where})"
    if outcome is Outcome.PARTIAL:
        text += f"; {explain_unplaced(candidates, allocation, unplaced)}"
    return text
