"""`spread`: choose clusters across topology domains, then divide replicas by weight.

Select:
1. Usable clusters have room (and, with static weights, a positive weight; if no cluster has a
   positive weight every cluster weighs 1, as in Karmada).
2. Domains are clusters, regions or clouds (``spread_by``). Rank them: domains already running
   the workload first, then by total room, then by the workload's stable tie order.
3. Take up to ``max_groups`` domains; fewer than ``min_groups`` is a failure. With region or cloud
   spread each chosen domain contributes its best cluster (running the workload, then roomiest).

Divide (Webster, capped by each cluster's room):
- static weights: the whole count is apportioned from scratch each time; Webster is
  house-monotone, so scaling up never takes a replica from any cluster, and equal priorities go
  to clusters already running the workload first, so nothing moves while nothing changed;
- capacity weights (Karmada ``dynamicWeight: AvailableReplicas``), STEADY: scale-up divides only
  the missing replicas, weighted by each cluster's free room; scale-down re-divides the new
  count weighted by the current counts (proportional shrink). FRESH divides the whole count by
  room plus current replicas.
- aggregated (Karmada ``replicaDivisionPreference: Aggregated``): the same as capacity weights,
  but over the shortest run of clusters whose room covers the replicas to place: clusters
  already running the workload first, then the roomiest (then name order, as Karmada's sort
  leaves equal rooms in its candidate order). Scale-down keeps the fewest current clusters that
  hold the new count, largest first. Karmada fails the whole binding when the room is short
  ("Clusters available replicas N are not enough"); here what fits is placed and the shortfall
  reported.
"""

from __future__ import annotations

import numpy as np

from engines.federation.allocation import Allocation, trim
from engines.federation.candidates import Candidates
from engines.federation.division import MAX_WEIGHT, proportional_shrink, webster
from engines.federation.fleet import IntArray
from engines.federation.model import LABEL_CLOUD, LABEL_REGION
from engines.federation.policy import AssignmentMode, SpreadBy, WeightMode

STATIC_MEANING = "static weight"
CAPACITY_MEANING = "replicas of free room, the capacity weight (higher wins)"
AGGREGATED_MEANING = "replicas of free room (fewest clusters that hold the workload)"
_MEANINGS = {
    WeightMode.STATIC: STATIC_MEANING,
    WeightMode.CAPACITY: CAPACITY_MEANING,
    WeightMode.AGGREGATED: AGGREGATED_MEANING,
}


def spread(candidates: Candidates, mode: AssignmentMode) -> Allocation:
    settings = candidates.policy.spread
    available = candidates.available
    static = settings.weights is WeightMode.STATIC
    weights = static_weights(candidates) if static else available
    usable = ((weights > 0) & (available > 0)).nonzero()[0] if static else available.nonzero()[0]
    # Best first: running the workload, then roomiest, then the workload's stable tie order.
    everyone = len(usable) == len(available)
    tie = candidates.tie if everyone else candidates.tie[usable]
    keys: tuple[IntArray, ...] = (tie, -available if everyone else -available[usable])
    if candidates.has_holders:
        keys += (-candidates.holders if everyone else -candidates.holders[usable],)
    best_first = np.lexsort(keys) if everyone else usable[np.lexsort(keys)]
    chosen, notes, failure = _select(candidates, best_first)
    held = dict(candidates.held)
    replicas: dict[int, int] = {}
    held_total = sum(held.values())
    if held_total > candidates.desired:
        trim(replicas, held, held_total - candidates.desired, ())
    target = candidates.desired - sum(held.values())
    if chosen and target > 0:
        seats = _divide(candidates, chosen, weights, target, mode)
        replicas = {offset: count for offset, count in zip(chosen, seats, strict=True) if count}
    by = settings.spread_by
    used = len(replicas) if settings.weights is WeightMode.AGGREGATED else len(chosen)
    how = "aggregated" if settings.weights is WeightMode.AGGREGATED else f"{settings.weights} weights"
    summary = f"spread by {by} over {used} {_plural(by, used)}, {how}"
    shown = weights.astype(np.float64)
    return Allocation(replicas, held, best_first, shown, _MEANINGS[settings.weights], summary, notes, failure)


def _take(values: IntArray, offsets: list[int]) -> list[int]:
    # Element reads beat building an index array when only a few clusters are chosen.
    return [int(values[offset]) for offset in offsets] if len(offsets) <= 8 else values[offsets].tolist()


def _divide(
    candidates: Candidates, chosen: list[int], weights: IntArray, target: int, mode: AssignmentMode
) -> list[int]:
    tie = _take(candidates.tie, chosen)
    available = _take(candidates.available, chosen)
    settings = candidates.policy.spread
    if settings.weights is WeightMode.STATIC:
        if candidates.has_holders:
            # Re-apportioned from scratch, so equal priorities must go where the replicas already
            # run: the name order alone would move them whenever the chosen clusters change (a new
            # leader in a region that runs nothing). Ranks lie in (-n, n); holders stay below n.
            offset = 2 * len(candidates.fleet)
            kept = _take(candidates.current, chosen)
            tie = [key if count else key + offset for key, count in zip(tie, kept, strict=True)]
        return webster(target, _take(weights, chosen), tie, caps=available)
    if settings.weights is WeightMode.AGGREGATED:
        return _aggregate(candidates, chosen, target, mode)
    if mode is AssignmentMode.FRESH:
        return webster(target, [min(room, MAX_WEIGHT) for room in available], tie, caps=available)
    kept = _take(candidates.current, chosen) if candidates.has_holders else [0] * len(chosen)
    running = sum(kept)
    if running > target:
        return proportional_shrink(target, kept, tie)
    fit = _take(candidates.fit, chosen)
    added = webster(target - running, [min(room, MAX_WEIGHT) for room in fit], tie, caps=fit)
    return [count + extra for count, extra in zip(kept, added, strict=True)]


def _aggregate(candidates: Candidates, chosen: list[int], target: int, mode: AssignmentMode) -> list[int]:
    """Karmada's Aggregated division (``dynamicDivideReplicas``): weights are free room, cut to the
    shortest prefix that covers what is placed; see the module docstring for the order."""
    tie = _take(candidates.tie, chosen)
    ranks = _take(candidates.fleet.name_rank[candidates.indices], chosen)
    parties = range(len(chosen))
    kept = [0] * len(chosen)
    if mode is AssignmentMode.STEADY and candidates.has_holders:
        kept = _take(candidates.current, chosen)
    running = sum(kept)
    if running >= target:
        # Scale-down (or nothing to do): the current counts are the weights and caps, largest first.
        prefix = _covering(sorted(parties, key=lambda i: (-kept[i], ranks[i])), kept, target)
        return proportional_shrink(target, [kept[i] if i in prefix else 0 for i in parties], tie)
    # FRESH counts the replicas it holds as room (Karmada's dynamicFreshScale); STEADY places only
    # the missing ones, clusters already running the workload first.
    rooms = _take(candidates.available if mode is AssignmentMode.FRESH else candidates.fit, chosen)
    order = sorted(parties, key=lambda i: (kept[i] == 0, -rooms[i], ranks[i]))
    prefix = _covering(order, rooms, target - running)
    weights = [min(rooms[i], MAX_WEIGHT) if i in prefix else 0 for i in parties]
    added = webster(target - running, weights, tie, caps=rooms)
    return [count + extra for count, extra in zip(kept, added, strict=True)]


def _covering(order: list[int], amounts: list[int], target: int) -> set[int]:
    """The shortest prefix of ``order`` whose amounts reach ``target`` (all of it if none does)."""
    total = 0
    for position, index in enumerate(order):
        total += amounts[index]
        if total >= target:
            return set(order[: position + 1])
    return set(order)


def _select(candidates: Candidates, best_first: IntArray) -> tuple[list[int], dict[int, str], str | None]:
    """Chosen offsets (one per domain unless spreading by cluster), their notes, and a failure."""
    settings = candidates.policy.spread
    by = settings.spread_by
    notes: dict[int, str] = {}
    if by is SpreadBy.CLUSTER or not len(best_first):
        found = len(best_first)
        chosen = best_first[: settings.max_groups].tolist()
    else:
        domain_of, domain_array, names = domain_index(candidates, by)
        # best_first is best-first, so the first cluster seen in a domain is its leader.
        leaders: dict[int, int] = {}
        for offset in best_first.tolist():
            leaders.setdefault(domain_of[offset], offset)
        room = np.bincount(
            domain_array[best_first], weights=candidates.available[best_first], minlength=len(names)
        ).tolist()
        holders = candidates.holders
        tie = candidates.tie

        def rank(item: tuple[int, int]) -> tuple[int, float, int]:
            domain, leader = item
            running = -1 if candidates.has_holders and holders[leader] else 0
            return running, -room[domain], int(tie[leader])

        ranked = sorted(leaders.items(), key=rank)[: settings.max_groups]
        chosen = [leader for _, leader in ranked]
        notes = {leader: f"{by} {names[domain]}" for domain, leader in ranked}
        found = len(leaders)
    if found < settings.min_groups:
        failure = (
            f"spread needs at least {settings.min_groups} {_plural(by, settings.min_groups)} with room "
            f"for a replica, found {found}"
        )
        return [], {}, failure
    return chosen, notes, None


def domain_index(candidates: Candidates, by: SpreadBy) -> tuple[list[int], IntArray, list[str]]:
    """Domain id per candidate offset (as a list and an array) and the domain names, memoised."""
    fleet = candidates.fleet
    label = LABEL_REGION if by is SpreadBy.REGION else LABEL_CLOUD
    indices = candidates.indices

    def compute() -> tuple[list[int], IntArray, list[str]]:
        names: list[str] = []
        ids: dict[str, int] = {}
        domain_ids = []
        for index in indices.tolist():
            cluster = fleet.cluster(index)
            # Clusters without the label form a domain of their own, so they still spread.
            name = cluster.labels.get(label) or f"(no {label}: {cluster.name})"
            domain_ids.append(ids.setdefault(name, len(ids)))
            if len(names) < len(ids):
                names.append(name)
        return domain_ids, np.asarray(domain_ids, dtype=np.int64), names

    return fleet.memo(("domains", candidates.policy.selector, candidates.workload.kind, by), compute)


def static_weights(candidates: Candidates) -> IntArray:
    """Per offset: the largest weight of the rules matching the cluster (0 if none)."""
    fleet = candidates.fleet
    rules = candidates.policy.spread.static_weights
    indices = candidates.indices

    def compute() -> IntArray:
        weights = []
        for index in indices.tolist():
            cluster = fleet.cluster(index)
            matching = [
                rule.weight for rule in rules if rule.matches(cluster.id, cluster.name, cluster.labels)
            ]
            weights.append(min(max(matching, default=0), MAX_WEIGHT))
        array = np.asarray(weights, dtype=np.int64)
        return array if array.any() else np.ones(len(indices), dtype=np.int64)

    return fleet.memo(("weights", candidates.policy.selector, candidates.workload.kind, rules), compute)


def _plural(by: SpreadBy, count: int) -> str:
    word = {SpreadBy.CLUSTER: "cluster", SpreadBy.REGION: "region", SpreadBy.CLOUD: "cloud"}[by]
    return word if count == 1 else f"{word}s"
