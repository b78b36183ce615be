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

    # Chosen clusters are priced for what they run, runner-ups for what they could have taken.
    listed = list(chosen_offsets) + runner_up_offsets
    counts = list(chosen_offsets.values()) + [min(workload.replicas, available[o]) for o in runner_up_offsets]
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
    chosen = entries[: len(chosen_offsets)]
    runner_ups = entries[len(chosen_offsets) :]
    replicas = {entry.cluster_id: entry.replicas for entry in chosen}
    for index, count in allocation.held.items():
        replicas[ids[index]] = count
        chosen.append(
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
        )

    placed = sum(replicas.values())
    if allocation.per_cluster_target is not None:
        unplaced = 0 if placed else workload.replicas
    else:
        unplaced = max(0, workload.replicas - placed)
    if unplaced == 0:
        outcome = Outcome.PLACED
    else:
        outcome = Outcome.PARTIAL if placed else Outcome.UNSCHEDULABLE
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
