"""A lower bound on what any schedule of a trace's pods costs: the planner's LP bound,
integrated over time.

Why it is a lower bound (zero boot time, zero scale-down delay, per-second billing with no
minimum - the real settings only add cost on top). Let A(t) be the pods alive at time t
and OPT(A) the cheapest hourly price of any set of nodes and serverless pods that holds A.
Any schedule must hold A(t) at every t, so its cost is at least the integral of OPT(A(t)) dt.
The planner's `lp_lower_bound` of a snapshot of pods, with no existing nodes, is at most OPT of
those pods, so every bound below only ever replaces OPT with something smaller:

1. Quiet windows: where A(t) stays the same for a while, the window contributes
   `lp_lower_bound(A) * length` (exact: the integral of a constant).
2. Busy windows (many arrivals and departures): cut the window into k slots of equal length
   u and let B_s be the pods alive during the whole of slot s (a subset of A(t) for every t
   in the slot, so OPT(B_s) <= OPT(A(t)) there). Pooling the slots' pods as one multiset
   (every pod of B_s once per slot it fills) gives a snapshot that k copies of the slots'
   optimal schedules hold together, so OPT(pool) <= sum_s OPT(B_s), and the window
   contributes `lp_lower_bound(pool) * u`, which is at most sum_s u * OPT(B_s).
   What is lost: a pod's partial slots at its two ends, and the packing gain of pooling pods
   from different slots that never ran together; short windows keep both small.

One planner call per window (identical windows are planned once) instead of one per
interval between events: a busy day of the OpenB trace has hundreds of intervals, and the
bound of one snapshot of ~40 GPU pods takes the planner seconds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace

from engines.planner import Catalog, PlannerPolicy, PodRequest, Resources, Snapshot, plan
from engines.replay.model import NO_OVERHEAD, SECONDS_PER_HOUR, ReplayPod
from engines.replay.planning import pod_kind

DEFAULT_SLOT_SECONDS = 30.0
DEFAULT_WINDOW_EVENTS = 40
DEFAULT_QUIET_SECONDS = 3600.0


Pool = tuple[tuple[PodRequest, int], ...]


def pool_key(pool: Pool) -> frozenset[tuple[Hashable, int]]:
    return frozenset((pod_kind(pod), count) for pod, count in pool)


@dataclass(frozen=True, slots=True)
class BoundWindow:
    """One stretch of time and the pooled pods it is bounded with: `kinds` pairs a
    representative request with how many copies the pool holds. The window contributes
    `lp_lower_bound(pool) * weight_seconds`."""

    start: float
    end: float
    weight_seconds: float
    kinds: Pool

    @property
    def quiet(self) -> bool:
        return self.weight_seconds == self.end - self.start

    def key(self) -> frozenset[tuple[Hashable, int]]:
        return pool_key(self.kinds)


@dataclass(frozen=True, slots=True)
class LowerBound:
    dollars: float
    windows: int
    quiet_windows: int
    plan_calls: int


def bound_windows(
    pods: Sequence[ReplayPod],
    *,
    slot_seconds: float = DEFAULT_SLOT_SECONDS,
    window_events: int = DEFAULT_WINDOW_EVENTS,
    quiet_seconds: float = DEFAULT_QUIET_SECONDS,
) -> tuple[BoundWindow, ...]:
    """Cut the span of `pods` into quiet and busy windows (see the module docstring).

    A stretch without events lasting at least `quiet_seconds` is a quiet window; busy windows
    hold at most `window_events` arrivals and departures and last whole slots.
    """
    if slot_seconds <= 0 or window_events <= 0 or quiet_seconds <= 0:
        raise ValueError("slots and quiet stretches need a length and windows need events")
    if not pods:
        return ()
    times = sorted({pod.arrival for pod in pods} | {pod.departure for pod in pods})
    quiet_length = quiet_seconds
    timeline = _Timeline(pods)
    windows: list[BoundWindow] = []
    cursor, index = times[0], 0  # times[index] is the first event time >= cursor
    while cursor < times[-1]:
        while index < len(times) and times[index] <= cursor:
            index += 1
        if index == len(times):
            break
        next_event = times[index]
        if next_event - cursor >= quiet_length:
            windows.append(timeline.quiet(cursor, next_event))
            cursor = next_event
            continue
        # A busy window: events up to `window_events` of them, stopping before a quiet stretch.
        stop = index
        while stop + 1 < len(times) and stop - index + 1 < window_events:
            if times[stop + 1] - times[stop] >= quiet_length:
                break
            stop += 1
        slots = max(math.ceil((times[stop] - cursor) / slot_seconds), 1)
        end = cursor + slots * slot_seconds
        windows.append(timeline.pooled(cursor, slots, slot_seconds))
        cursor = end
    return tuple(window for window in windows if window.kinds)


class _Timeline:
    """Which pods overlap a window, found from pods sorted by arrival (windows come in order)."""

    def __init__(self, pods: Sequence[ReplayPod]) -> None:
        self._pods = sorted(pods, key=lambda pod: pod.arrival)
        self._next = 0
        self._open: list[ReplayPod] = []

    def _overlapping(self, start: float, end: float) -> list[ReplayPod]:
        while self._next < len(self._pods) and self._pods[self._next].arrival < end:
            self._open.append(self._pods[self._next])
            self._next += 1
        self._open = [pod for pod in self._open if pod.departure > start]
        return [pod for pod in self._open if pod.arrival < end]

    def quiet(self, start: float, end: float) -> BoundWindow:
        alive = [
            pod for pod in self._overlapping(start, end) if pod.arrival <= start and pod.departure >= end
        ]
        return BoundWindow(start, end, end - start, _pool((pod, 1) for pod in alive))

    def pooled(self, start: float, slots: int, slot_seconds: float) -> BoundWindow:
        end = start + slots * slot_seconds
        copies = []
        for pod in self._overlapping(start, end):
            first = max(math.ceil((pod.arrival - start) / slot_seconds), 0)
            last = min(math.floor((pod.departure - start) / slot_seconds), slots)  # exclusive
            if last > first:
                copies.append((pod, last - first))
        return BoundWindow(start, end, slot_seconds, _pool(copies))


def _pool(copies: Iterable[tuple[ReplayPod, int]]) -> tuple[tuple[PodRequest, int], ...]:
    counts: Counter[tuple[Hashable, ...]] = Counter()
    representative: dict[tuple[Hashable, ...], PodRequest] = {}
    for pod, count in copies:
        kind = pod_kind(pod.request)
        representative.setdefault(kind, pod.request)
        counts[kind] += count
    return tuple((representative[kind], count) for kind, count in counts.items())


def pool_bound_per_hour(
    kinds: Pool,
    catalog: Catalog,
    policy: PlannerPolicy,
    daemonset_overhead: Resources = NO_OVERHEAD,
) -> float:
    """The planner's LP bound ($/h) for the pooled pods, with no existing nodes."""
    pods = tuple(
        replace(pod, uid=f"pool-{kind}-{copy}", name=f"pool-{kind}-{copy}")
        for kind, (pod, count) in enumerate(kinds)
        for copy in range(count)
    )
    snapshot = Snapshot(pods=pods, daemonset_overhead=daemonset_overhead, region=catalog.region)
    return plan(snapshot, policy, catalog).lp_lower_bound


def distinct_pools(windows: Sequence[BoundWindow]) -> list[Pool]:
    """The pools to bound, each once (windows with the same pods share one planner call)."""
    seen: set[frozenset[tuple[Hashable, int]]] = set()
    pools: list[Pool] = []
    for window in windows:
        key = pool_key(window.kinds)
        if key not in seen:
            seen.add(key)
            pools.append(window.kinds)
    return pools


def integrate_bound(windows: Sequence[BoundWindow], pool_bounds: Sequence[float]) -> LowerBound:
    """Sum each window's bound times its weight; `pool_bounds[i]` is the $/h bound of
    `distinct_pools(windows)[i]` (computed by the caller, serially or over several cores)."""
    pools = distinct_pools(windows)
    if len(pools) != len(pool_bounds):
        raise ValueError(f"{len(pools)} distinct pools but {len(pool_bounds)} bounds")
    bound_of = {pool_key(pool): bound for pool, bound in zip(pools, pool_bounds, strict=True)}
    dollars = sum(bound_of[window.key()] * window.weight_seconds / SECONDS_PER_HOUR for window in windows)
    return LowerBound(
        dollars=dollars,
        windows=len(windows),
        quiet_windows=sum(1 for window in windows if window.quiet),
        plan_calls=len(pools),
    )


def lower_bound(
    pods: Sequence[ReplayPod],
    catalog: Catalog,
    policy: PlannerPolicy,
    *,
    slot_seconds: float = DEFAULT_SLOT_SECONDS,
    window_events: int = DEFAULT_WINDOW_EVENTS,
    quiet_seconds: float = DEFAULT_QUIET_SECONDS,
    daemonset_overhead: Resources = NO_OVERHEAD,
) -> LowerBound:
    """The integrated bound of `pods` in one go (one core); see the module docstring."""
    windows = bound_windows(
        pods, slot_seconds=slot_seconds, window_events=window_events, quiet_seconds=quiet_seconds
    )
    bounds = [
        pool_bound_per_hour(pool, catalog, policy, daemonset_overhead) for pool in distinct_pools(windows)
    ]
    return integrate_bound(windows, bounds)
