"""Chart data for `static/js/charts.js`: plain JSON the page embeds in a data block (the CSP allows no
inline script), one object per chart: kind, labels, datasets and how to format the axis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billing.selectors.overview import NodeCount
from billing.selectors.reports import CAPACITY_LABELS, SeriesPoint
from engines.kube.capacity import CapacityType
from engines.metering import SavingsRow

ChartData = dict[str, Any]
TOP_GROUPS = 10


def _label(point: SeriesPoint, step: str) -> str:
    return point.start.strftime("%d %b %H:00" if step == "hour" else "%d %b")


def _rounded(values: Sequence[float | None], places: int = 4) -> list[float | None]:
    return [None if value is None else round(value, places) for value in values]


def from_first_metered(series: Sequence[SeriesPoint]) -> Sequence[SeriesPoint]:
    """A chart starts where its data starts: the periods before the first metered one (before the
    organization or its clusters existed) are left off rather than drawn as $0. The tables keep
    them, as one gap row."""
    for index, point in enumerate(series):
        if point.metered:
            return series[index:]
    return series[-1:]


def spend_chart(series: Sequence[SeriesPoint], step: str) -> ChartData:
    """Spend per period stacked by capacity type, with the three baselines as lines."""
    series = from_first_metered(series)
    datasets = [
        {
            "label": CAPACITY_LABELS[kind],
            "type": "bar",
            "color": kind,
            "stack": "actual",
            "data": _rounded([point.spend_by_capacity.get(kind, 0.0) for point in series]),
        }
        for kind in CapacityType
    ]
    datasets += [
        {"label": label, "type": "line", "color": color, "data": _rounded([getattr(p, name) for p in series])}
        for label, color, name in (
            ("Static pools", "static", "static_pool"),
            ("On-demand only", "ondemandonly", "on_demand_only"),
            ("Serverless only", "serverlessonly", "serverless_only"),
        )
        # a baseline that does not apply to the window (serverless when no pod fits) has no line
        if any(getattr(p, name) is not None for p in series)
    ]
    return {
        "kind": "bar",
        "stacked": True,
        "format": "money",
        "labels": [_label(point, step) for point in series],
        "datasets": datasets,
    }


def savings_chart(rows: Sequence[SavingsRow]) -> ChartData:
    """Actual spend next to each baseline for the dearest groups."""
    top = list(rows[:TOP_GROUPS])
    return {
        "kind": "bar",
        "horizontal": True,
        "format": "money",
        "labels": [row.label for row in top],
        "datasets": [
            {
                "label": label,
                "type": "bar",
                "color": color,
                "data": _rounded(
                    [
                        None if name == "serverless_only" and not r.serverless_applies else getattr(r, name)
                        for r in top
                    ]
                ),
            }
            for label, color, name in (
                ("Actual spend", "actual", "actual"),
                ("Static pools", "static", "static_pool"),
                ("On-demand only", "ondemandonly", "on_demand_only"),
                ("Serverless only", "serverlessonly", "serverless_only"),
            )
        ],
    }


def utilization_chart(series: Sequence[SeriesPoint], step: str) -> ChartData:
    series = from_first_metered(series)
    return {
        "kind": "line",
        "format": "percent",
        "labels": [_label(point, step) for point in series],
        "datasets": [
            {
                "label": label,
                "type": "line",
                "color": color,
                "data": _rounded([getattr(p, name) for p in series], 1),
            }
            for label, color, name in (
                ("CPU requested", "cpu", "cpu_requested_pct"),
                ("CPU used", "cpuused", "cpu_used_pct"),
                ("Memory requested", "memory", "memory_requested_pct"),
                ("Memory used", "memoryused", "memory_used_pct"),
            )
        ],
    }


def nodes_chart(nodes: Sequence[NodeCount]) -> ChartData:
    return {
        "kind": "doughnut",
        "format": "count",
        "labels": [count.label for count in nodes],
        "datasets": [
            {
                "label": "Nodes",
                "type": "doughnut",
                "colors": [count.capacity_type for count in nodes],
                "data": _rounded([count.nodes for count in nodes], 1),
            }
        ],
    }
