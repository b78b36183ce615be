"""Reports and overview as a reader meets them: "used" only when measured, node counts beside the
donut, one name for unpriced nodes, distinct section titles, and runs of empty hours folded."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import selectors
from billing.selectors.reports import CAPACITY_LABELS
from engines.kube.capacity import CapacityType
from engines.metering import NodeSample, PodSample, Quantities
from engines.metering.windows import HOUR, floor_hour, parse_window
from tests.billing.ledger_builders import (
    make_cluster,
    minutes,
    page_table,
    record_minutes,
    shop_nodes,
    shop_pods,
)
from tests.fixtures.pages import get_page
from ui.templatetags.ui_tags import capacity_type

pytestmark = pytest.mark.django_db

UNPRICED_LABEL = "Unpriced (on-prem / unknown type)"


def _onprem_node() -> NodeSample:
    # No catalog price: metering bills it as unpriced.
    return NodeSample(
        "rack-1", "custom-4x16", CapacityType.ON_DEMAND, "dc-east", None, Quantities(4, 16), Quantities(4, 16)
    )


@pytest.fixture
def with_onprem(cast):
    cluster = make_cluster(cast.org_a, "hybrid")
    pods = [*shop_pods(), PodSample("lab", "train-1", "Job/train", "rack-1", Quantities(1, 2))]
    record_minutes(cluster, minutes(floor_hour(timezone.now()), 5), [*shop_nodes(100), _onprem_node()], pods)
    return cluster


def _utilization_rows(html: str) -> list[list[str]]:
    header, *rows = page_table(html, "table-utilization")
    return [row for row in rows if len(row) == len(header)]


def test_the_reports_utilization_table_says_not_measured_for_used_without_a_metrics_source(
    with_onprem, owner_client
) -> None:
    html = get_page(owner_client, "/reports/?window=today", queries=12).content.decode()
    rows = _utilization_rows(html)
    assert rows
    for row in rows:
        assert row[2] == row[4] == "not measured"
        assert row[1].endswith(" %") and row[3].endswith(" %")
    csv_rows = list(
        csv.reader(
            io.StringIO(owner_client.get("/reports/csv/?table=utilization&window=today").content.decode())
        )
    )
    assert {row[2] for row in csv_rows[1:]} == {"not measured"}


def test_the_reports_utilization_table_shows_used_when_usage_was_measured(cast, owner_client) -> None:
    cluster = make_cluster(cast.org_a, "measured")
    pods = [
        PodSample(
            pod.namespace, pod.name, pod.workload, pod.node_name, pod.requests, usage=Quantities(0.2, 1)
        )
        for pod in shop_pods()
    ]
    now = timezone.now()
    record_minutes(cluster, minutes(floor_hour(now), 5), shop_nodes(), pods)
    point = next(
        p for p in selectors.report(cast.org_a, parse_window("today", now), "namespace").series if p.metered
    )
    row = next(
        row
        for row in _utilization_rows(
            get_page(owner_client, "/reports/?window=today", queries=12).content.decode()
        )
        if row[0] == f"{point.start:%Y-%m-%d %H:%M}"
    )
    assert row[2] == f"{point.cpu_used_pct:.1f} %" != row[1]
    assert row[4] == f"{point.memory_used_pct:.1f} %" != row[3]


def test_the_overview_lists_nodes_per_capacity_type_with_counts_and_shares(with_onprem, owner_client) -> None:
    html = get_page(owner_client, "/", queries=16).content.decode()
    found = re.search(r'<canvas id="chart-nodes" data-chart="([^"]*)"', html)
    assert found is not None
    chart = json.loads(unescape(found.group(1)))
    counts = chart["datasets"][0]["data"]
    total = sum(counts)
    header, *rows, footer = page_table(html, "nodes-by-capacity")
    assert rows == [
        [label, f"{count:.1f}", f"{100 * count / total:.1f} %"]
        for label, count in zip(chart["labels"], counts, strict=True)
    ]
    assert footer[:2] == ["Total", f"{total:.1f}"]
    assert UNPRICED_LABEL in chart["labels"]


def test_unpriced_nodes_have_one_name_on_every_page(with_onprem, owner_client) -> None:
    pages = {
        "overview": get_page(owner_client, "/", queries=16).content.decode(),
        "reports": get_page(
            owner_client, "/reports/?window=today&group=capacity_type", queries=9
        ).content.decode(),
        "placement": get_page(owner_client, reverse("placement"), queries=8).content.decode(),
    }
    for name, html in pages.items():
        assert UNPRICED_LABEL in html, name
        assert "No known price" not in html, name
    savings = [row[0] for row in page_table(pages["reports"], "table-savings")]
    assert UNPRICED_LABEL in savings
    assert CAPACITY_LABELS["unpriced"] == capacity_type("unpriced") == UNPRICED_LABEL


def _headings(html: str, tag: str) -> list[str]:
    return [
        " ".join(unescape(re.sub(r"<[^>]+>", "", text)).split())
        for text in re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", html, re.S)
    ]


def test_every_section_of_the_reports_page_has_its_own_title(with_onprem, owner_client) -> None:
    titles = _headings(
        get_page(owner_client, "/reports/?window=today&group=namespace", queries=12).content.decode(), "h2"
    )
    assert "Savings by namespace" in titles
    assert len(titles) == len(set(titles)), titles


def test_the_federation_policies_page_and_its_panel_have_different_titles(cast, owner_client) -> None:
    html = get_page(owner_client, reverse("federation-policies"), queries=9).content.decode()
    assert not set(_headings(html, "h1")) & set(_headings(html, "h2"))


def test_runs_of_unmetered_hours_are_one_row_on_the_page_and_every_hour_in_the_csv(
    cast, owner_client, monkeypatch
) -> None:
    now = timezone.now()
    # The page computes its window from the clock: an hour turning mid-test would shift every row.
    monkeypatch.setattr(timezone, "now", lambda: now)
    current = floor_hour(now)
    window = parse_window("24h", now)
    earlier = current - 5 * HOUR
    cluster = make_cluster(cast.org_a, "shop-prod")
    for hour in (earlier, current):
        record_minutes(cluster, minutes(hour, 3), shop_nodes(100))
    html = get_page(owner_client, "/reports/?window=24h", queries=12).content.decode()

    def gap(first, last, what):
        end = last + HOUR
        hours = round((end - first) / HOUR)
        end_text = f"{end:%H:%M}" if end.date() == first.date() else f"{end:%Y-%m-%d %H:%M}"
        return [f"{what} {first:%Y-%m-%d %H:%M}–{end_text} ({hours} hours)"]

    for table, what in (("spend", "no spend metered"), ("utilization", "nothing metered")):
        rows = page_table(html, f"table-{table}")[1:]
        assert [row[0] if len(row) > 1 else row for row in rows] == [
            gap(window.start, earlier - HOUR, what),
            f"{earlier:%Y-%m-%d %H:%M}",
            gap(earlier + HOUR, current - HOUR, what),
            f"{current:%Y-%m-%d %H:%M}",
        ]
        response = owner_client.get(f"/reports/csv/?table={table}&window=24h")
        periods = [row[0] for row in csv.reader(io.StringIO(response.content.decode()))][1:]
        assert periods == [f"{window.start + i * HOUR:%Y-%m-%d %H:%M}" for i in range(round(window.hours))]
