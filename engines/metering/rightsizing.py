"""Right-sizing container requests from measured usage (VPA-like): pure, no Django, no I/O.

Usage is kept as histograms with exponentially growing buckets, as the Vertical Pod Autoscaler
keeps it (`vertical-pod-autoscaler/pkg/recommender/util/histogram.go`): each bucket is 5 % wider
than the one before, so a percentile read from it is at most 5 % above the true one, whatever the
scale, and an hour of a busy workload is a few dozen numbers, not thousands of samples.

A container's recommendation over a window (`recommend`):

1. Too little data (fewer than `min_samples` samples, or under `min_span_hours` between the first
   and last) gives no recommendation, and says how much there is; otherwise the confidence grows
   with the span: low under a day, medium under five days (CAST AI's default window), then high.
2. CPU: the `cpu_percentile` (VPA's target is p90) of the samples, plus `margin` (VPA's 15 %).
   When the container was at its CPU limit in `throttled_share` of the samples or more (so it was
   likely throttled, and its usage understates its need), the p99 is used instead and the request
   is never lowered.
3. Memory: the peak, plus `margin` (memory has no throttling: too little is an OOM kill). After an
   OOM kill in the window, the request is never lowered, and is at least the larger of its request
   and peak bumped as VPA bumps after an OOM: ×1.2, and by at least 100 MiB.
4. Both are at least the floors (`min_cpu`, `min_memory_gib`), and rounded up to whole millicores
   and MiB, the units the snippet writes.
5. A change under `apply_threshold` (10 %, as CAST AI's) of the current request is not worth a
   restart: the container is reported right-sized.

The monthly saving is the request change × the per-core and per-GiB rates metering allocates pods
with (`rates.split_node_price` of the nodes they ran on) × the workload's average replicas × 730 h.
A negative saving is what the extra room costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from engines.metering.model import Quantities
from engines.metering.money import HOURS_PER_MONTH as HOURS_PER_MONTH
from engines.metering.rates import ResourceRates

CPU_FIRST_BUCKET = 0.001  # cores: bucket 0 is [0, 1m)
MEMORY_FIRST_BUCKET = 1 / 1024  # GiB: bucket 0 is [0, 1 MiB)
BUCKET_RATIO = 1.05
MAX_BUCKET = 400  # 1.05^400 × 1m ≈ 300 million cores: nothing measured reaches it
MIB = 1 / 1024  # in GiB

Histogram = Mapping[int, int]  # bucket index -> number of samples


def bucket_of(value: float, first: float) -> int:
    """The bucket holding `value`: 0 below `first`, then i for [first·r^(i-1), first·r^i)."""
    if value < first:
        return 0
    index = 1 + math.floor(math.log(value / first) / math.log(BUCKET_RATIO) + 1e-9)
    return min(index, MAX_BUCKET)


def bucket_end(index: int, first: float) -> float:
    """The upper bound of bucket `index` (what a percentile falling in it reads: never below it)."""
    return first * BUCKET_RATIO**index


def histogram_add(histogram: dict[int, int], value: float, first: float, count: int = 1) -> None:
    bucket = bucket_of(max(value, 0.0), first)
    histogram[bucket] = histogram.get(bucket, 0) + count


def histogram_merge(histograms: Iterable[Mapping[Any, int]]) -> dict[int, int]:
    """Sum histograms bucket by bucket (stored as JSON, their bucket indexes are strings)."""
    summed: dict[Any, int] = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            summed[bucket] = summed.get(bucket, 0) + count
    merged: dict[int, int] = {}
    for bucket, count in summed.items():  # keys converted once, not once per hour
        merged[int(bucket)] = merged.get(int(bucket), 0) + int(count)
    return merged


def percentile(histogram: Histogram, fraction: float, first: float) -> float | None:
    """The smallest bucket end at or below which `fraction` of the samples lie; None when empty."""
    if not 0 < fraction <= 1:
        raise ValueError(f"a percentile is a fraction in (0, 1], not {fraction}")
    total = sum(histogram.values())
    if total <= 0:
        return None
    wanted = fraction * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= wanted - 1e-9:
            return bucket_end(bucket, first)
    return bucket_end(max(histogram), first)


class Confidence(StrEnum):
    NONE = "none"  # too little data: no recommendation
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Verdict(StrEnum):
    INSUFFICIENT_DATA = "insufficient-data"
    RIGHT_SIZED = "right-sized"
    RESIZE = "resize"


@dataclass(frozen=True)
class RightsizingPolicy:
    cpu_percentile: float = 0.90
    throttled_cpu_percentile: float = 0.99
    margin: float = 0.15
    min_cpu: float = 0.010  # cores
    min_memory_gib: float = 32 * MIB
    oom_bump_ratio: float = 1.2
    oom_min_bump_gib: float = 100 * MIB
    throttled_share: float = 0.05  # of samples at the CPU limit
    min_samples: int = 30
    min_span_hours: float = 1.0
    medium_span_hours: float = 24.0
    high_span_hours: float = 120.0
    apply_threshold: float = 0.10


DEFAULT_POLICY = RightsizingPolicy()


@dataclass(frozen=True)
class ContainerHistory:
    """What was measured of one container of a workload over the window (all its pods together).

    `requests`/`limits` are the latest seen (None limit: none set); `cpu_at_limit` counts samples at
    95 % of the CPU limit or more; `oom_kills` counts distinct OOM kills seen."""

    container: str
    cpu: Histogram
    memory: Histogram
    memory_peak_gib: float
    samples: int
    span_hours: float
    requests: Quantities
    cpu_limit: float | None = None
    memory_limit_gib: float | None = None
    oom_kills: int = 0
    cpu_at_limit: int = 0


@dataclass(frozen=True)
class ContainerRecommendation:
    container: str
    verdict: Verdict
    confidence: Confidence
    current: Quantities
    recommended: Quantities | None  # None: too little data
    limits: tuple[float | None, float | None]  # CPU and memory limits to set with it (None: leave)
    cpu_used: float | None  # the percentile the CPU recommendation starts from
    memory_peak_gib: float
    throttled: bool
    oom_kills: int
    reasons: tuple[str, ...]

    @property
    def change(self) -> Quantities:
        """Request change (recommended − current); zero when there is nothing to apply."""
        if self.recommended is None or self.verdict != Verdict.RESIZE:
            return Quantities()
        return Quantities(
            self.recommended.cpu - self.current.cpu, self.recommended.memory_gib - self.current.memory_gib
        )


def confidence_of(history: ContainerHistory, policy: RightsizingPolicy = DEFAULT_POLICY) -> Confidence:
    if history.samples < policy.min_samples or history.span_hours < policy.min_span_hours:
        return Confidence.NONE
    if history.span_hours < policy.medium_span_hours:
        return Confidence.LOW
    if history.span_hours < policy.high_span_hours:
        return Confidence.MEDIUM
    return Confidence.HIGH


def _round_up(value: float, unit: float) -> float:
    return math.ceil(value / unit - 1e-9) * unit


def _cpu(history: ContainerHistory, policy: RightsizingPolicy) -> tuple[float, float, bool]:
    """(recommended cores, the percentile used, whether the container looked throttled)."""
    throttled = (
        history.cpu_limit is not None and history.cpu_at_limit >= policy.throttled_share * history.samples
    )
    fraction = policy.throttled_cpu_percentile if throttled else policy.cpu_percentile
    used = percentile(history.cpu, fraction, CPU_FIRST_BUCKET) or 0.0
    cores = max(used * (1 + policy.margin), policy.min_cpu)
    if throttled:
        cores = max(cores, history.requests.cpu)  # its usage is capped by the limit: never lower
    return _round_up(cores, 0.001), used, throttled


def _memory(history: ContainerHistory, policy: RightsizingPolicy) -> float:
    gib = max(history.memory_peak_gib * (1 + policy.margin), policy.min_memory_gib)
    if history.oom_kills:
        # VPA's OOM rule: the memory it died at (at least its request, at least the peak seen) ×1.2,
        # by at least 100 MiB; and never below the request it had.
        base = max(history.requests.memory_gib, history.memory_peak_gib)
        gib = max(gib, base * policy.oom_bump_ratio, base + policy.oom_min_bump_gib)
    return _round_up(gib, MIB)


def _scaled_limit(limit: float | None, current: float, recommended: float) -> float | None:
    """VPA's RequestsAndLimits: a limit keeps its ratio to the request (None: no limit set, or a
    ratio that cannot be kept because there was no request)."""
    if limit is None or current <= 0:
        return None
    return limit * recommended / current


def _worth_applying(current: float, recommended: float, threshold: float) -> bool:
    if current <= 0:
        return recommended > 0  # no request at all: any request is a change worth making
    return abs(recommended - current) / current >= threshold


def _reasons(
    history: ContainerHistory, throttled: bool, cpu_used: float, policy: RightsizingPolicy
) -> list[str]:
    reasons = [
        f"CPU p{round((policy.throttled_cpu_percentile if throttled else policy.cpu_percentile) * 100)} "
        f"{cpu_used * 1000:.0f}m and memory peak {history.memory_peak_gib * 1024:.0f}Mi over "
        f"{history.samples} samples, plus {policy.margin:.0%} headroom."
    ]
    if throttled:
        reasons.append(
            f"At its CPU limit in {history.cpu_at_limit} of {history.samples} samples (likely throttled): "
            "the 99th percentile is used and CPU is not lowered."
        )
    if history.oom_kills:
        reasons.append(
            f"OOM-killed {history.oom_kills} time{'s' if history.oom_kills != 1 else ''}: memory is raised "
            f"×{policy.oom_bump_ratio:g} over what it died at, never lowered."
        )
    return reasons


def recommend(
    history: ContainerHistory, policy: RightsizingPolicy = DEFAULT_POLICY
) -> ContainerRecommendation:
    """One container's recommendation (see the module docstring for the rule)."""
    confidence = confidence_of(history, policy)
    limits = (history.cpu_limit, history.memory_limit_gib)
    if confidence == Confidence.NONE:
        return ContainerRecommendation(
            history.container,
            Verdict.INSUFFICIENT_DATA,
            confidence,
            history.requests,
            None,
            (None, None),
            None,
            history.memory_peak_gib,
            throttled=False,
            oom_kills=history.oom_kills,
            reasons=(
                f"Too little data: {history.samples} samples over {history.span_hours:.1f} h "
                f"(needs {policy.min_samples} over {policy.min_span_hours:g} h).",
            ),
        )
    cpu, cpu_used, throttled = _cpu(history, policy)
    memory = _memory(history, policy)
    recommended = Quantities(cpu, memory)
    worth = _worth_applying(history.requests.cpu, cpu, policy.apply_threshold) or _worth_applying(
        history.requests.memory_gib, memory, policy.apply_threshold
    )
    reasons = _reasons(history, throttled, cpu_used, policy)
    if not worth:
        reasons.append(f"Within {policy.apply_threshold:.0%} of its requests: not worth a restart.")
    return ContainerRecommendation(
        history.container,
        Verdict.RESIZE if worth else Verdict.RIGHT_SIZED,
        confidence,
        history.requests,
        recommended,
        (
            _scaled_limit(limits[0], history.requests.cpu, cpu),
            _scaled_limit(limits[1], history.requests.memory_gib, memory),
        ),
        cpu_used,
        history.memory_peak_gib,
        throttled=throttled,
        oom_kills=history.oom_kills,
        reasons=tuple(reasons),
    )


def monthly_saving(change: Quantities, rates: ResourceRates, replicas: float) -> float:
    """What applying a request change saves a month (negative: what it costs), at the rates pods
    are allocated at, for the workload's average number of pods."""
    return -(change.cpu * rates.cpu + change.memory_gib * rates.memory_gib) * replicas * HOURS_PER_MONTH


def weakest(confidences: Iterable[Confidence]) -> Confidence:
    order = list(Confidence)
    return min(confidences, key=order.index, default=Confidence.NONE)
