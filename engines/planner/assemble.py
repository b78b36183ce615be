"""Turning packed nodes into launches: ordered fallback offerings, decisions and stable ids."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from engines.kube.capacity import CapacityType
from engines.kube.resources import (
    CPU,
    EPHEMERAL,
    GPU,
    MEMORY,
    MILLI_GPU_PER_GPU,
    PODS,
    Resources,
    describe_vector,
)
from engines.planner.problem import Problem
from engines.planner.results import Decision, Launch, OfferingChoice
from engines.planner.serverless import ServerlessOption
from engines.planner.table import BoolArray, FloatArray, IntArray, fits_mask

RUNNER_UPS = 3
MIN_RUNNER_UPS = 2
# How far into a ranking the first offering of each (capacity type, zone) pair is sought at once.
_PAIR_SCAN = 256


def node_id_for(pod_uids: list[str] | tuple[str, ...]) -> str:
    """An id that depends only on the set of pods, so re-planning them yields the same id."""
    digest = hashlib.sha256("\n".join(sorted(pod_uids)).encode()).hexdigest()
    return f"nl-{digest[:20]}"


def vector_resources(vector: IntArray | tuple[int, ...], overhead: Resources) -> Resources:
    gpus = -(-int(vector[GPU]) // MILLI_GPU_PER_GPU)
    pods = Resources(int(vector[CPU]), int(vector[MEMORY]), gpus, int(vector[EPHEMERAL]), int(vector[PODS]))
    return pods + overhead


@dataclass(frozen=True, slots=True)
class Ranked:
    """The acceptable offerings of one node, best first, and the decision explaining the choice."""

    offerings: tuple[OfferingChoice, ...]
    decision: Decision


@dataclass(frozen=True, slots=True)
class _Candidates:
    """The offerings `Assembler.ranked` may pick for one node, cheapest first (ties by zone, then
    table order), and how many offerings were acceptable in all."""

    offerings: IntArray
    price: FloatArray
    count: int

    def rotated(self, rotation: int, zone_of: IntArray, zone_count: int) -> IntArray:
        """Ordered by price, equal prices by zone rotated by `rotation` (then table order)."""
        rotated = (zone_of[self.offerings] - rotation) % zone_count
        return self.offerings[np.lexsort((rotated, self.price))]


class Assembler:
    """Builds launches for one problem, caching what identical pods share."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        table = problem.table
        zones = sorted({o.zone for o in table.offerings})
        zone_code = {zone: i for i, zone in enumerate(zones)}
        self.zone_count = max(len(zones), 1)
        self.zone_of = np.fromiter((zone_code[o.zone] for o in table.offerings), np.int64, len(table))
        self.capacity_of = np.fromiter(
            (o.capacity_type is CapacityType.SPOT for o in table.offerings), np.int64, len(table)
        )
        self._pair_of = self.capacity_of * self.zone_count + self.zone_of  # (capacity type, zone)
        # Offerings by rounded effective price, then zone, then table order (`_sorted_candidates`).
        self._price = np.round(table.effective, 9)
        self._by_price = np.lexsort((self.zone_of, self._price))
        # Each offering's (instance type, capacity type) as one code (`_runner_ups`).
        capacity_code = {capacity: i for i, capacity in enumerate(CapacityType)}
        self._kind_of = table.type_of * len(capacity_code) + np.fromiter(
            (capacity_code[o.capacity_type] for o in table.offerings), np.int64, len(table)
        )
        # Every offering of a type has the type's allocatable: fit is tested type by type.
        self._type_alloc = np.zeros((len(table.types), table.alloc.shape[1]), np.int64)
        self._type_alloc[table.type_of] = table.alloc
        self._choices: dict[int, OfferingChoice] = {}
        self._ranked: dict[tuple[object, ...], Ranked] = {}
        self._candidates: dict[tuple[object, ...], _Candidates] = {}

    def choice(self, index: int) -> OfferingChoice:
        choice = self._choices.get(index)
        if choice is None:
            offering = self.problem.table.offerings[index]
            choice = OfferingChoice(
                offering.instance_type,
                offering.zone,
                offering.capacity_type,
                float(self.problem.table.price[index]),  # the offering's price, plus any surcharge
                float(self.problem.table.effective[index]),
                offering.interruption_bucket,
            )
            self._choices[index] = choice
        return choice

    @staticmethod
    def serverless_choice(option: ServerlessOption) -> OfferingChoice:
        return OfferingChoice(
            option.name,
            "",
            CapacityType.SERVERLESS,
            option.price,
            option.effective,
            option.pricing.interruption_bucket,
        )

    def ranked(
        self,
        mask: BoolArray | Callable[[], BoolArray],
        *,
        rotation: int,
        serverless: ServerlessOption | None,
        subject: str,
        cache_key: tuple[object, ...] | None = None,
    ) -> Ranked:
        """Acceptable offerings ordered cheapest first, diverse in capacity type and zone.

        1. Sort the acceptable offerings by effective price; equal prices are ordered by zone,
           rotated by `rotation`, so equally cheap nodes spread over the zones.
        2. Keep the cheapest offering of every (capacity type, zone) pair, so a launch can fall
           back across zones and capacity types, then fill up with the next cheapest.
        3. Runner-ups are the next cheapest offerings of other instance types or capacity types.
        """
        key = None if cache_key is None else (*cache_key, rotation % self.zone_count)
        if key is not None and key in self._ranked:
            return self._ranked[key]
        candidates = None if cache_key is None else self._candidates.get(cache_key)
        if candidates is None:
            candidates = self._sorted_candidates(mask() if callable(mask) else mask)
            if cache_key is not None:
                self._candidates[cache_key] = candidates
        order = candidates.rotated(rotation, self.zone_of, self.zone_count)
        limit = self.problem.policy.max_offerings_per_launch
        first_of_pair = self._first_of_pair(order)
        taken = np.zeros(len(order), bool)
        taken[first_of_pair] = True
        room = max(limit - len(first_of_pair), 0)
        taken[np.flatnonzero(~taken)[:room]] = True
        picked = [int(i) for i in order[taken]]
        choices = [self.choice(i) for i in picked]
        if serverless is not None:
            choices.append(self.serverless_choice(serverless))
            choices.sort(key=lambda c: c.effective_price_per_hour)
        runner_ups = self._runner_ups(choices[0], order, serverless)
        reason = self._reason(choices[0], runner_ups, candidates.count + (serverless is not None), subject)
        ranked = Ranked(tuple(choices), Decision(choices[0], runner_ups, reason))
        if key is not None:
            self._ranked[key] = ranked
        return ranked

    def _sorted_candidates(self, mask: BoolArray) -> _Candidates:
        """The acceptable offerings that any rotation of `ranked` can pick or show: its first
        positions (whole groups of equal price, whose order the rotation changes) and the
        cheapest offering of every (capacity type, zone) pair, which the rotation never changes
        (a pair has one zone)."""
        order = self._by_price[mask[self._by_price]]
        price = self._price[order]
        firsts = self._first_of_pair(order)
        needed = max(
            8 * RUNNER_UPS * self.zone_count, self.problem.policy.max_offerings_per_launch + len(firsts)
        )
        end = (
            len(order)
            if needed >= len(order)
            else int(np.searchsorted(price, price[needed - 1], side="right"))
        )
        far = np.sort(firsts[firsts >= end])
        keep = np.concatenate([np.arange(end), far]).astype(np.int64)
        return _Candidates(order[keep], price[keep], len(order))

    def _first_of_pair(self, order: IntArray) -> IntArray:
        """The position in `order` of the first offering of every (capacity type, zone) pair
        present (`np.unique(..., return_index=True)` of the pairs, without sorting thousands)."""
        pair = self._pair_of[order]
        present = np.flatnonzero(np.bincount(pair, minlength=2 * self.zone_count))
        if not len(present):
            return np.zeros(0, np.int64)
        # The cheapest offerings hold most pairs: look there first, then for the others.
        hit = pair[None, :_PAIR_SCAN] == present[:, None]
        firsts = hit.argmax(axis=1)
        for missing in np.flatnonzero(~hit.any(axis=1)):
            firsts[missing] = np.argmax(pair == present[missing])
        return np.asarray(firsts, dtype=np.int64)

    def _runner_ups(
        self, chosen: OfferingChoice, order: IntArray, serverless: ServerlessOption | None
    ) -> tuple[OfferingChoice, ...]:
        head = order[: 8 * RUNNER_UPS * self.zone_count]
        if serverless is None:  # then `chosen` is the first offering of `order`
            # The loops below in bulk: the first offering of every other kind, by price.
            kinds = self._kind_of[head].tolist()
            # Read backwards, each kind's first position is the one that stays.
            first_at = dict(zip(reversed(kinds), range(len(kinds) - 1, -1, -1), strict=True))
            others = head[sorted(first_at.values())]
            others = others[self._kind_of[others] != self._kind_of[order[0]]]
            if len(others) >= MIN_RUNNER_UPS:
                cheapest = np.argsort(self.problem.table.effective[others], kind="stable")[:RUNNER_UPS]
                return tuple(self.choice(int(i)) for i in others[cheapest])
        candidates = [self.choice(int(i)) for i in head]
        if serverless is not None:
            candidates.append(self.serverless_choice(serverless))
            candidates.sort(key=lambda c: c.effective_price_per_hour)
        # Prefer alternatives of another instance type or capacity type; when too few exist, the
        # same offering in other zones still tells a person what the fallbacks cost.
        runner_ups: list[OfferingChoice] = []
        seen = {(chosen.instance_type, chosen.capacity_type)}
        for candidate in candidates:
            kind = (candidate.instance_type, candidate.capacity_type)
            if kind not in seen:
                seen.add(kind)
                runner_ups.append(candidate)
        for candidate in candidates:
            if len(runner_ups) >= MIN_RUNNER_UPS:
                break
            if candidate != chosen and candidate not in runner_ups:
                runner_ups.append(candidate)
        runner_ups.sort(key=lambda c: c.effective_price_per_hour)
        return tuple(runner_ups[:RUNNER_UPS])

    @staticmethod
    def _reason(
        chosen: OfferingChoice, runner_ups: tuple[OfferingChoice, ...], count: int, subject: str
    ) -> str:
        reason = f"{chosen.describe()} is the cheapest of {count} offerings that fit {subject}"
        if runner_ups:
            nxt = runner_ups[0]
            extra = (nxt.effective_price_per_hour / chosen.effective_price_per_hour - 1) * 100
            reason += f"; next best {nxt.instance_type} {nxt.capacity_type.label} costs {extra:+.1f} %"
        return reason

    def node_ranked(self, signatures: set[int], load: IntArray, *, rotation: int, subject: str) -> Ranked:
        """`ranked` for a node carrying pods of these signatures with this load (nodes alike in
        both share the work)."""
        return self.ranked(
            lambda: self.node_mask(signatures, load),
            rotation=rotation,
            serverless=None,
            subject=subject,
            cache_key=("node", frozenset(signatures), tuple(int(v) for v in load)),
        )

    def fits(self, load: Sequence[int] | IntArray) -> BoolArray:
        """The offerings that can hold `load` in every resource (`fits_mask`, type by type)."""
        return fits_mask(self._type_alloc, load)[self.problem.table.type_of]

    def node_mask(self, signatures: set[int], load: IntArray) -> BoolArray:
        mask = self.fits(load)
        for signature in signatures:
            mask &= self.problem.signatures.masks[signature]
        return mask

    def launch(
        self,
        pod_indices: list[int],
        load: IntArray,
        ranked: Ranked,
        *,
        reserved: bool,
        overhead: Resources,
    ) -> Launch:
        uids = tuple(self.problem.snapshot.pods[i].uid for i in pod_indices)
        return Launch(
            node_id=node_id_for(uids),
            pod_uids=uids,
            offerings=ranked.offerings,
            requests=vector_resources(load, overhead),
            reserved_for_pod=uids[0] if reserved else None,
            decision=ranked.decision,
        )


def describe_load(pod_count: int, load: IntArray) -> str:
    return f"{pod_count} pod{'s' if pod_count != 1 else ''} ({describe_vector(list(load))})"
