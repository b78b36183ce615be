"""Charts start where the data starts: periods before the first metered one are not drawn as $0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.charts import from_first_metered, spend_chart
from billing.selectors.reports import SeriesPoint

START = datetime(2026, 12, 1, tzinfo=UTC)


def _point(day: int, *, metered: bool, spend: float = 0.0) -> SeriesPoint:
    return SeriesPoint(
        start=START + timedelta(days=day),
        spend_by_capacity={"on_demand": spend},
        actual=spend,
        static_pool=spend,
        on_demand_only=spend,
        serverless_only=None,
        cpu_requested=0.0,
        cpu_used=0.0,
        cpu_allocatable=0.0,
        memory_requested=0.0,
        memory_used=0.0,
        memory_allocatable=0.0,
        metered=metered,
    )


def test_the_spend_chart_leaves_off_the_days_before_the_first_metered_one() -> None:
    series = [
        _point(0, metered=False),
        _point(1, metered=False),
        _point(2, metered=True, spend=1.5),
        _point(3, metered=False),
    ]
    chart = spend_chart(series, "day")
    assert chart["labels"] == ["03 Dec", "04 Dec"]  # a gap after the first metered day stays drawn
    assert chart["datasets"][0]["data"] == [1.5, 0.0]


def test_a_window_with_nothing_metered_draws_its_last_period_only() -> None:
    series = [_point(0, metered=False), _point(1, metered=False)]
    assert [p.start.day for p in from_first_metered(series)] == [2]
    assert from_first_metered([]) == []
