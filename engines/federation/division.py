"""Replica division: the Webster (Sainte-Laguë) divisor method, with capacity caps and stable ties.

Seats (replicas) are handed out one at a time to the party (cluster) with the highest priority
``weight / (2·seats + 1)``, skipping parties at their cap and parties of weight 0. Ties go to the
party with fewer seats, then to the lower tie key (the cluster's rank in name order, negated for
workloads whose ties go to later names: ``names_descending_for``), as in Karmada's scheduler.

Because the allocation for n+1 seats is the allocation for n plus one seat, the method is
house-monotone: raising the total never takes a seat from anyone (Karmada issue #6735).

For large totals the seat-by-seat loop starts from a bulk state instead of zero:
1. Pick the threshold ``t = W / D`` with ``W = Σ weights`` and ``D = 2·total − parties``.
2. Give every party all seats whose priority is strictly above t (capped). Per party that is
   ``ceil((w·D − W) / (2W))`` seats, computed in exact integers, and the sum is at most ``total``.
3. The sequential process passes through exactly this state (it hands out seats in decreasing
   priority, and every seat above t outranks every seat at or below it), so continuing it from
   here gives the identical result in O(parties · log parties) instead of O(total · log parties).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

MAX_WEIGHT = 2**20


def names_descending_for(workload_id: str) -> bool:
    """Whether ties between clusters go to the later name for this workload.

    Stable per workload and alternating across workloads, so remainders do not always land on
    the same cluster (Karmada #4220). Karmada's rule exactly (``tieBreakerByUID`` in
    pkg/util/helper/binding.go): names descend when FNV-32a of the resource UID is odd, so the same
    UID breaks ties the same way in both schedulers. Only the parity is needed, and it has a closed
    form: the offset basis is odd, multiplying by the (odd) FNV prime keeps the parity, and each
    XOR with a byte flips it when the byte is odd, so the hash is odd exactly when an even number
    of the bytes are odd (``fnv32a`` below is the whole hash, for the test that checks this).
    """
    odd_bytes = sum(byte & 1 for byte in workload_id.encode())
    return odd_bytes % 2 == 0


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bits (Go's ``hash/fnv.New32a``)."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def webster(
    total: int,
    weights: Sequence[int],
    tie: Sequence[int],
    caps: Sequence[int] | None = None,
    initial: Sequence[int] | None = None,
) -> list[int]:
    """Apportion ``total`` new seats by weight on top of ``initial`` seats.

    ``caps`` bound each party's final seats; seats nobody can take are left unassigned, so the
    result may sum to less than ``total`` + Σ initial (the caller reports the shortfall).
    Weights and seat counts must stay below 2**20 so float priorities order exactly like the
    rationals they stand for (``MAX_WEIGHT``).
    """
    count = len(weights)
    seats = list(initial) if initial is not None else [0] * count
    limits = list(caps) if caps is not None else [total + seat for seat in seats]
    remaining = total
    if initial is None and total > count:
        remaining -= _bulk_start(total, weights, limits, seats)
    heap = [
        (-weights[index] / (2 * seats[index] + 1), seats[index], tie[index], index)
        for index in range(count)
        if weights[index] > 0 and seats[index] < limits[index]
    ]
    heapq.heapify(heap)
    while remaining > 0 and heap:
        _, _, _, index = heap[0]
        seats[index] += 1
        remaining -= 1
        if seats[index] < limits[index]:
            weight = weights[index]
            heapq.heapreplace(heap, (-weight / (2 * seats[index] + 1), seats[index], tie[index], index))
        else:
            heapq.heappop(heap)
    return seats


def _bulk_start(total: int, weights: Sequence[int], limits: Sequence[int], seats: list[int]) -> int:
    weight_sum = sum(weight for weight in weights if weight > 0)
    divisor = 2 * total - len(weights)
    if weight_sum == 0 or divisor <= 0:
        return 0
    given = 0
    for index, weight in enumerate(weights):
        excess = weight * divisor - weight_sum
        if weight > 0 and excess > 0:
            seats[index] = min(limits[index], -(-excess // (2 * weight_sum)))
            given += seats[index]
    return given


def proportional_shrink(target: int, current: Sequence[int], tie: Sequence[int]) -> list[int]:
    """Scale-down: re-split ``target`` by the current counts, never growing any party."""
    return webster(target, current, tie, caps=current)
