"""Right-sizing arithmetic: histogram percentiles, headroom and floors, OOM kills raising memory,
throttling keeping CPU, too little data, the apply threshold, savings, and the monthly saving."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engines.metering import Quantities, ResourceRates
from engines.metering.rightsizing import (
    BUCKET_RATIO,
    CPU_FIRST_BUCKET,
    HOURS_PER_MONTH,
    MEMORY_FIRST_BUCKET,
    Confidence,
    ContainerHistory,
    Verdict,
    bucket_end,
    bucket_of,
    histogram_add,
    histogram_merge,
    monthly_saving,
    percentile,
    recommend,
    weakest,
)

MIB = 1 / 1024
REQUESTS = Quantities(1.0, 2.0)  # what the container asks for unless a test says otherwise


def history(
    cpu_samples: list[float],
    memory_samples: list[float],
    *,
    span_hours: float = 48.0,
    requests: Quantities = REQUESTS,
    **extra: object,
) -> ContainerHistory:
    cpu: dict[int, int] = {}
    memory: dict[int, int] = {}
    for value in cpu_samples:
        histogram_add(cpu, value, CPU_FIRST_BUCKET)
    for value in memory_samples:
        histogram_add(memory, value, MEMORY_FIRST_BUCKET)
    return ContainerHistory(
        container="app",
        cpu=cpu,
        memory=memory,
        memory_peak_gib=max(memory_samples, default=0.0),
        samples=len(cpu_samples),
        span_hours=span_hours,
        requests=requests,
        **extra,  # type: ignore[arg-type]
    )


def test_a_value_falls_in_the_bucket_whose_bounds_hold_it() -> None:
    assert bucket_of(0.0, CPU_FIRST_BUCKET) == 0
    assert bucket_of(0.0009, CPU_FIRST_BUCKET) == 0
    for value in (0.001, 0.0123, 0.25, 1.0, 3.7, 64.0):
        index = bucket_of(value, CPU_FIRST_BUCKET)
        assert bucket_end(index - 1, CPU_FIRST_BUCKET) <= value * (1 + 1e-9)
        assert value < bucket_end(index, CPU_FIRST_BUCKET)


@given(
    st.lists(st.floats(min_value=0.0005, max_value=200.0), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_a_percentile_read_from_the_histogram_is_at_most_five_percent_above_the_true_one(
    values: list[float], fraction: float
) -> None:
    histogram: dict[int, int] = {}
    for value in values:
        histogram_add(histogram, value, CPU_FIRST_BUCKET)
    ordered = sorted(values)
    true = ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]
    read = percentile(histogram, fraction, CPU_FIRST_BUCKET)
    assert read is not None
    assert true <= read * (1 + 1e-9)
    assert read <= max(true, CPU_FIRST_BUCKET) * BUCKET_RATIO * (1 + 1e-9)


def test_histograms_merge_by_bucket_and_an_empty_one_has_no_percentile() -> None:
    assert histogram_merge([{1: 2, 5: 1}, {"5": 3, 7: 1}]) == {1: 2, 5: 4, 7: 1}
    assert percentile({}, 0.9, CPU_FIRST_BUCKET) is None
    with pytest.raises(ValueError, match="fraction"):
        percentile({1: 1}, 90, CPU_FIRST_BUCKET)


def test_cpu_is_the_p90_plus_headroom_and_memory_the_peak_plus_headroom() -> None:
    # 100 samples: 90 at 0.2 cores, 10 at 0.8 (the p90 is 0.2); memory up to 512 MiB.
    cpu = [0.2] * 90 + [0.8] * 10
    memory = [0.25] * 99 + [0.5]
    result = recommend(history(cpu, memory))
    assert result.verdict == Verdict.RESIZE
    assert result.recommended is not None
    assert 0.2 * 1.15 <= result.recommended.cpu <= 0.2 * 1.05 * 1.15 + 0.001
    assert 0.5 * 1.15 <= result.recommended.memory_gib <= 0.5 * 1.15 + MIB
    assert result.change.cpu < 0 and result.change.memory_gib < 0
    assert result.confidence == Confidence.MEDIUM
    assert "CPU p90" in result.reasons[0]


def test_tiny_usage_is_held_up_by_the_floors() -> None:
    result = recommend(history([0.0001] * 50, [0.001] * 50, requests=Quantities(0.5, 1.0)))
    assert result.recommended == Quantities(0.010, 32 * MIB)


def test_too_little_data_gives_no_recommendation_and_says_how_much_there_is() -> None:
    few = recommend(history([0.1] * 10, [0.1] * 10))
    assert few.verdict == Verdict.INSUFFICIENT_DATA and few.recommended is None
    assert few.confidence == Confidence.NONE and few.change == Quantities()
    assert "10 samples" in few.reasons[0]
    short = recommend(history([0.1] * 100, [0.1] * 100, span_hours=0.5))
    assert short.verdict == Verdict.INSUFFICIENT_DATA


@pytest.mark.parametrize(
    ("span", "confidence"), [(2, Confidence.LOW), (30, Confidence.MEDIUM), (121, Confidence.HIGH)]
)
def test_confidence_grows_with_the_span_of_the_data(span: float, confidence: Confidence) -> None:
    assert recommend(history([0.1] * 100, [0.1] * 100, span_hours=span)).confidence == confidence


def test_after_an_oom_kill_memory_is_raised_never_lowered() -> None:
    # Its peak (what the metrics saw before the kill) is well under its request: without the OOM it
    # would be lowered; with it, it is raised 20 % over the request (the larger of the two).
    quiet = recommend(history([0.1] * 100, [0.3] * 100, requests=Quantities(0.1, 1.0)))
    assert quiet.recommended is not None and quiet.recommended.memory_gib < 1.0
    killed = recommend(history([0.1] * 100, [0.3] * 100, requests=Quantities(0.1, 1.0), oom_kills=2))
    assert killed.recommended is not None
    assert killed.recommended.memory_gib == pytest.approx(1.2, abs=MIB)
    assert killed.verdict == Verdict.RESIZE and killed.change.memory_gib > 0
    assert any("OOM-killed 2 times" in reason for reason in killed.reasons)


def test_an_oom_kill_bumps_a_small_request_by_at_least_100_mib() -> None:
    killed = recommend(history([0.1] * 100, [0.05] * 100, requests=Quantities(0.1, 0.125), oom_kills=1))
    assert killed.recommended is not None
    assert killed.recommended.memory_gib == pytest.approx(0.125 + 100 * MIB, abs=MIB)


def test_a_container_at_its_cpu_limit_is_not_lowered_and_its_p99_is_read() -> None:
    # Limit 0.5 cores, request 0.5: usage pinned at the limit in 5 % of the samples (its p90 is 0.1).
    samples = [0.1] * 95 + [0.5] * 5
    throttled = recommend(
        history(samples, [0.2] * 100, requests=Quantities(0.5, 0.25), cpu_limit=0.5, cpu_at_limit=5)
    )
    assert throttled.throttled and throttled.recommended is not None
    assert throttled.recommended.cpu >= 0.5 * 1.15  # the p99 (0.5) plus headroom
    assert throttled.limits[0] is not None and throttled.limits[0] >= throttled.recommended.cpu
    unthrottled = recommend(history(samples, [0.2] * 100, requests=Quantities(0.5, 0.25)))
    assert not unthrottled.throttled
    assert unthrottled.recommended is not None and unthrottled.recommended.cpu < 0.5


def test_limits_keep_their_ratio_to_the_request() -> None:
    result = recommend(
        history([0.2] * 100, [0.5] * 100, requests=Quantities(1.0, 2.0), cpu_limit=2.0, memory_limit_gib=4.0)
    )
    assert result.recommended is not None
    assert result.limits[0] == pytest.approx(2 * result.recommended.cpu)
    assert result.limits[1] == pytest.approx(2 * result.recommended.memory_gib)
    no_limits = recommend(history([0.2] * 100, [0.5] * 100))
    assert no_limits.limits == (None, None)


def test_a_change_under_ten_percent_is_not_worth_a_restart() -> None:
    # p90 0.2 × 1.15 ≈ 0.23-0.24 cores against 0.24 requested; peak 0.5 × 1.15 against 0.6 GiB.
    result = recommend(history([0.2] * 100, [0.5] * 100, requests=Quantities(0.24, 0.6)))
    assert result.verdict == Verdict.RIGHT_SIZED
    assert result.change == Quantities()
    assert any("not worth a restart" in reason for reason in result.reasons)


def test_a_container_with_no_request_gets_one() -> None:
    result = recommend(history([0.2] * 100, [0.5] * 100, requests=Quantities(0, 0)))
    assert result.verdict == Verdict.RESIZE and result.change.cpu > 0


def test_the_monthly_saving_is_the_change_at_the_allocation_rates_times_replicas() -> None:
    rates = ResourceRates(cpu=0.03, memory_gib=0.004)
    saving = monthly_saving(Quantities(-0.5, -1.0), rates, replicas=3)
    assert saving == pytest.approx((0.5 * 0.03 + 1.0 * 0.004) * 3 * HOURS_PER_MONTH)
    assert monthly_saving(Quantities(0.5, 0), rates, replicas=1) < 0  # raising costs money


def test_the_weakest_confidence_of_a_workload_wins() -> None:
    assert weakest([Confidence.HIGH, Confidence.LOW, Confidence.MEDIUM]) == Confidence.LOW
    assert weakest([]) == Confidence.NONE
