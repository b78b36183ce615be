"""The integrated lower bound: how windows are cut and pooled, and that no schedule beats it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.replay import (
    Consolidation,
    ReplayPod,
    Timing,
    bound_windows,
    distinct_pools,
    integrate_bound,
    lower_bound,
    replay,
)
from tests.lab.replay.replay_builders import EVERYTHING, LARGE, ON_DEMAND_ONLY, SMALL, catalog, request

TWO_SIZES = catalog(SMALL, LARGE)
ZERO_OVERHEAD = Timing(minimum_billed_seconds=0)


def test_a_quiet_stretch_contributes_its_bound_times_its_length():
    pods = [ReplayPod(request("a", 2000), 0, 7200)]
    bound = lower_bound(pods, TWO_SIZES, ON_DEMAND_ONLY)
    assert (bound.windows, bound.quiet_windows, bound.plan_calls) == (1, 1, 1)
    assert bound.dollars == pytest.approx(0.36 * 2, rel=1e-5)


def test_a_busy_window_pools_each_pod_once_per_slot_it_fills():
    pods = [ReplayPod(request("a"), 0, 100), ReplayPod(request("b"), 50, 150)]
    (window,) = bound_windows(pods, slot_seconds=30, window_events=10, quiet_seconds=1000)
    # Slots start at 0, 30, 60, 90, 120: a fills the first three, b the last three.
    assert (window.start, window.end, window.weight_seconds) == (0, 150, 30)
    assert [count for _, count in window.kinds] == [6]


def test_windows_alternate_between_quiet_and_busy_stretches():
    pods = [
        ReplayPod(request("long"), 0, 20_000),
        ReplayPod(request("short1"), 10_000, 10_100),
        ReplayPod(request("short2"), 10_050, 10_200),
    ]
    windows = bound_windows(pods, slot_seconds=60, window_events=10, quiet_seconds=1000)
    assert [window.quiet for window in windows] == [True, False, True]
    assert windows[0].end == windows[1].start and windows[1].end == windows[2].start
    assert windows[-1].end == 20_000


def test_windows_with_the_same_pods_are_planned_once():
    # Two quiet stretches with one identical pod alive, split by a short visitor.
    pods = [
        ReplayPod(request("a"), 0, 10_000),
        ReplayPod(request("b"), 0, 10_000),
        ReplayPod(request("visitor"), 5000, 5010),
    ]
    windows = bound_windows(pods, slot_seconds=5, window_events=2, quiet_seconds=1000)
    assert len([window for window in windows if window.quiet]) == 2
    assert len(distinct_pools(windows)) == len(windows) - 1


def test_integrate_bound_wants_one_bound_per_distinct_pool():
    windows = bound_windows([ReplayPod(request("a"), 0, 100)])
    with pytest.raises(ValueError):
        integrate_bound(windows, [])


@st.composite
def traces(draw: st.DrawFn) -> list[ReplayPod]:
    count = draw(st.integers(min_value=1, max_value=6))
    pods = []
    for index in range(count):
        arrival = draw(st.integers(min_value=0, max_value=3000))
        duration = draw(st.integers(min_value=1, max_value=4000))
        cpu = draw(st.sampled_from([500, 1000, 2000, 3000]))
        pods.append(ReplayPod(request(f"p{index}", cpu), arrival, arrival + duration))
    return pods


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods=traces(), slot=st.sampled_from([1, 7, 60]), events=st.integers(min_value=1, max_value=8))
def test_no_zero_overhead_schedule_costs_less_than_the_bound(pods, slot, events):
    bound = lower_bound(
        pods, TWO_SIZES, ON_DEMAND_ONLY, slot_seconds=slot, window_events=events, quiet_seconds=300
    )
    plain = replay(pods, TWO_SIZES, ON_DEMAND_ONLY, ZERO_OVERHEAD)
    consolidation = Consolidation(interval_seconds=300, min_savings=0.0, min_pod_age_seconds=0)
    consolidated = replay(pods, TWO_SIZES, ON_DEMAND_ONLY, ZERO_OVERHEAD, consolidation=consolidation)
    assert bound.dollars <= plain.effective_cost + 1e-9
    assert bound.dollars <= consolidated.effective_cost + 1e-9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pods=traces(), boot=st.sampled_from([0, 45]), delay=st.sampled_from([0, 30, None]))
def test_every_pod_runs_once_and_the_series_adds_up_to_the_cost(pods, boot, delay):
    timing = Timing(boot_seconds=boot, scale_down_seconds=delay)
    result = replay(pods, catalog(SMALL, LARGE, spot_discount=0.5), EVERYTHING, timing)
    assert result.pods_run == len(pods) and not result.unplaced
    assert sum(node.pods_served for node in result.nodes) == len(pods)
    assert sum(result.series.costs) == pytest.approx(result.cost)
    assert result.start_delay_seconds <= boot * len(pods)
    assert all(node.billed_seconds >= 60 for node in result.nodes)
