"""What the UX review of the money pages found: every figure multiplies out, says what it is based on,
and names one thing one way on every page."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.utils import timezone

from billing.models import PodPlacement
from engines.metering.windows import floor_hour, next_month_start
from tests.billing.ledger_builders import (
    as_number,
    make_cluster,
    minutes,
    page_table,
    record_minutes,
    seed_placements,
    shop_nodes,
    shop_pods,
)
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db

SCALE = 100
MINUTE_COST = (0.096 + 0.0384) * SCALE / 60  # the two shop nodes


@pytest.fixture
def metered(cast):
    cluster = make_cluster(cast.org_a, "shop-prod")
    record_minutes(cluster, minutes(floor_hour(timezone.now()), 5), nodes=shop_nodes(SCALE))
    return cluster


def test_the_static_pool_row_multiplies_out(metered, owner_client) -> None:
    html = get_page(owner_client, "/reports/?window=today&group=cluster", queries=12).content.decode()
    header, *rows = page_table(html, "table-pools")
    print(header, rows)
    assert rows
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        hours, rate, cost = (
            float(as_number(cells[name])) for name in ("Metered hours", "Pool $/hour", "Pool cost")
        )
        assert cost > 0
        # The shown hours × the shown rate give the shown cost, to the cent and to 1 %.
        assert hours * rate == pytest.approx(cost, rel=0.01, abs=0.005)


def _alerts(html: str) -> list[str]:
    return [
        " ".join(unescape(text).split())
        for text in re.findall(r'<div class="alert error" role="alert">(.*?)</div>', html, re.S)
    ]


def test_a_bad_grouping_or_window_names_the_problem_and_what_is_shown_instead(metered, owner_client) -> None:
    html = get_page(owner_client, "/reports/?window=today&group=capacity", queries=12).content.decode()
    (alert,) = _alerts(html)
    assert "'capacity' is not a grouping" in alert and "Grouping by namespace instead." in alert
    assert "Showing" not in alert  # the window asked for is fine: nothing else fell back
    assert 'data-window="today"' in html and 'data-group="namespace"' in html

    html = get_page(owner_client, "/reports/?window=fortnight&group=cluster", queries=9).content.decode()
    (alert,) = _alerts(html)
    assert "'fortnight' is not a report window" in alert and "Showing last 7 days instead." in alert
    assert 'data-window="7d"' in html and 'data-group="cluster"' in html

    html = get_page(
        owner_client, "/reports/?window=custom&from=2026-01-01&group=cluster", queries=9
    ).content.decode()
    (alert,) = _alerts(html)
    assert "needs both a start and an end date" in alert and "Showing last 7 days instead." in alert
    assert 'data-group="cluster"' in html  # a good grouping is kept when the window is not

    both = _alerts(
        get_page(owner_client, "/reports/?window=fortnight&group=capacity", queries=9).content.decode()
    )
    assert len(both) == 2


def _stat(html: str, name: str) -> tuple[str, str]:
    match = re.search(
        rf'data-stat="{name}"><div class="label">[^<]*</div><div class="value">([^<]*)</div><div class="hint">([^<]*)<',
        html,
    )
    assert match, f"no {name} figure on the page"
    return match.group(1), unescape(match.group(2))


def test_the_projection_says_what_span_it_uses_and_waits_for_an_hour_of_data(cast, owner_client) -> None:
    cluster = make_cluster(cast.org_a, "shop-prod")
    now = timezone.now()
    # Twelve minutes metered, late in the current hour's first part or the previous hour's end.
    first = now.replace(second=0, microsecond=0) - timedelta(minutes=13)
    record_minutes(cluster, minutes(first, 12), nodes=shop_nodes(SCALE))
    value, hint = _stat(get_page(owner_client, "/", queries=16).content.decode(), "projected")
    assert value == "—" and hint.startswith("not enough data yet: 12 minutes metered")
    body = owner_client.get("/api/v1/reports/overview/").json()
    assert body["projected_month_end"] is None and body["projection_basis_hours"] == pytest.approx(0.2)

    record_minutes(cluster, minutes(first - timedelta(minutes=78), 78), nodes=shop_nodes(SCALE))
    value, hint = _stat(get_page(owner_client, "/", queries=13).content.decode(), "projected")
    assert hint == "the rest of the month at the rate of the last 1.5 hours metered"
    body = owner_client.get("/api/v1/reports/overview/").json()
    hours_left = (next_month_start(now) - now).total_seconds() / 3600
    spent = 90 * MINUTE_COST
    expected = float(body["month_to_date"]) + spent / 1.5 * hours_left
    assert body["projection_basis_hours"] == pytest.approx(1.5)
    assert float(body["projected_month_end"]) == pytest.approx(expected, rel=0.01)
    assert as_number(value) == body["projected_month_end"]  # the page's cents are the API's


GROUPINGS = ("cluster", "namespace", "workload", "capacity_type")


def test_every_grouping_shows_the_same_total_and_the_same_idle_capacity(cast, owner_client) -> None:
    start = floor_hour(timezone.now())
    for name in ("shop-prod", "shop-staging"):
        record_minutes(make_cluster(cast.org_a, name), minutes(start, 5), nodes=shop_nodes(SCALE))
    totals, idle = set(), set()
    for grouping in GROUPINGS:
        # The first request of the session also saves the session (3 queries).
        queries = 12 if grouping == GROUPINGS[0] else 9
        html = get_page(
            owner_client, f"/reports/?window=today&group={grouping}", queries=queries
        ).content.decode()
        rows = {row[0]: row for row in page_table(html, "table-savings")[1:]}
        totals.add(rows["Total"][1])
        idle.add(rows["Idle capacity"][1])
        pods = sum(
            float(as_number(row[1])) for label, row in rows.items() if label not in ("Total", "Idle capacity")
        )
        assert pods + float(as_number(rows["Idle capacity"][1])) == pytest.approx(
            float(as_number(rows["Total"][1])), abs=0.011
        )
    # The nodes cost more than the pods were charged: idle is a real figure, the same in every grouping.
    assert len(totals) == 1 and len(idle) == 1 and float(as_number(idle.pop())) > 0


def test_placement_shows_dashes_for_pods_not_running_and_says_why_a_pod_has_no_decision(
    metered, owner_client
) -> None:
    decision = seed_placements(metered)
    common = {"organization_id": metered.organization_id, "cluster": metered, "namespace": "shop"}
    PodPlacement.objects.create(**common, name="web-3", workload="Deployment/web", phase="Pending")
    PodPlacement.objects.create(
        **common,
        name="web-4",
        workload="Deployment/web",
        phase="Running",
        node_name="ip-10-0-9-9.ec2.internal",  # a node group's node: Nodeless launched it not
        instance_type="m5.large",
        capacity_type="on_demand",
        zone="us-east-1a",
        node_price_per_hour=Decimal("0.096"),
        cost_per_hour=Decimal("0.024"),
    )
    header, *rows = page_table(
        get_page(owner_client, "/placement/", queries=12).content.decode(), "table-pods"
    )
    by_pod = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    pending = by_pod["shop/web-3"]
    assert pending["Node"] == "pending"
    assert pending["Node $/hour"] == pending["Pod $/hour"] == pending["Decision"] == "—"
    assert by_pod["shop/web-4"]["Pod $/hour"] == "$0.02"  # $0.024: the cell's title has it exactly
    assert by_pod["shop/web-4"]["Decision"] == "placed by kube-scheduler on a node Nodeless did not launch"
    assert by_pod["shop/web-1"]["Decision"] == "why?"
    assert PodPlacement.objects.get(name="web-1").decision_id == decision.pk


def test_a_workload_has_one_name_on_overview_reports_and_placement(metered, owner_client) -> None:
    seed_placements(metered)
    overview = page_table(get_page(owner_client, "/", queries=16).content.decode(), "top-workloads")
    report = page_table(
        get_page(owner_client, "/reports/?window=today&group=workload", queries=9).content.decode(),
        "table-savings",
    )
    placement = page_table(get_page(owner_client, "/placement/", queries=9).content.decode(), "table-pods")
    column = placement[0].index("Workload")
    on_overview = {row[0] for row in overview[1:]}
    on_report = {row[0] for row in report[1:]} - {"Idle capacity", "Total"}
    on_placement = {row[column] for row in placement[1:]}
    assert on_overview == on_report == on_placement == {"shop/Deployment/web", "batch/Job/etl"}


def _unfit(pods):
    """The same pods, as if no serverless shape held them (GPU pods)."""
    return [replace(pod, serverless_price_per_hour=None) for pod in pods]


def test_the_serverless_baseline_is_na_when_no_pod_fits_a_serverless_shape(cast, owner_client) -> None:
    cluster = make_cluster(cast.org_a, "gpu-prod")
    record_minutes(
        cluster, minutes(floor_hour(timezone.now()), 6), nodes=shop_nodes(SCALE), pods=_unfit(shop_pods())
    )
    pod_hours = sum(1 for _ in shop_pods()) * 6 / 60  # three pods, six minutes each

    html = get_page(owner_client, "/reports/?window=today&group=namespace", queries=12).content.decode()
    value, hint = _stat(html, "serverless_only")
    assert value == "n/a" and hint == f"0 of {pod_hours:.3f} pod-hours fit a serverless shape"
    header, *rows = page_table(html, "table-savings")
    column, saved = header.index("Serverless only"), header.index("Saved vs serverless only")
    pods_rows = [row for row in rows if row[0] != "Idle capacity"]
    assert {row[column] for row in pods_rows} == {row[saved] for row in pods_rows} == {"n/a"}
    csv_rows = list(
        csv.reader(io.StringIO(owner_client.get("/reports/csv/?table=savings&window=today").content.decode()))
    )
    assert [row[column] for row in csv_rows[1:]] == [as_number(row[column]) for row in rows]

    body = owner_client.get("/api/v1/reports/savings/?window=today").json()
    assert body["totals"]["serverless_only"] is None and body["totals"]["saved_vs_serverless_only"] is None
    assert body["totals"]["pod_hours"] == pytest.approx(pod_hours)
    assert body["totals"]["serverless_fit_pod_hours"] == 0

    overview = get_page(owner_client, "/", queries=13).content.decode()
    assert "Serverless only: n/a — 0 of 0.300 pod-hours fit a serverless shape." in unescape(overview)

    # and so is every hour of it: the series never prices what the total calls n/a
    header, *hours = page_table(html, "table-spend")
    metered = [row for row in hours if not row[0].startswith("no spend")]
    assert metered and {row[header.index("Serverless only")] for row in metered} == {"n/a"}
    points = owner_client.get("/api/v1/reports/spend/?window=today").json()["points"]
    assert points and all(point["serverless_only"] is None for point in points)
    chart_data = re.search(r'id="chart-spend" data-chart="([^"]*)"', html)
    assert chart_data is not None
    spend_chart = json.loads(unescape(chart_data.group(1)))
    lines = [dataset["label"] for dataset in spend_chart["datasets"] if dataset["type"] == "line"]
    assert lines == ["Static pools", "On-demand only"]  # no line for a baseline that does not apply


def test_the_serverless_baseline_says_how_much_of_the_pod_time_it_prices(cast, owner_client) -> None:
    cluster = make_cluster(cast.org_a, "mixed-prod")
    web, web_2, etl = shop_pods()
    record_minutes(
        cluster,
        minutes(floor_hour(timezone.now()), 6),
        nodes=shop_nodes(SCALE),
        pods=[web, web_2, *_unfit([etl])],
    )
    value, hint = _stat(
        get_page(owner_client, "/reports/?window=today", queries=12).content.decode(), "serverless_only"
    )
    assert value.startswith("$")
    assert hint.endswith("; 0.200 of 0.300 pod-hours fit a serverless shape; the rest keep their actual cost")
    totals = owner_client.get("/api/v1/reports/savings/?window=today").json()["totals"]
    assert totals["serverless_fit_pod_hours"] == pytest.approx(0.2) and Decimal(totals["serverless_only"]) > 0


def test_used_is_not_shown_as_the_request_when_usage_is_not_measured(metered, owner_client) -> None:
    rows = {
        row[0]: row[1]
        for row in page_table(get_page(owner_client, "/", queries=16).content.decode(), "utilization-today")
    }
    assert rows["CPU used / allocatable"] == rows["Memory used / allocatable"] == "not measured"
    assert rows["CPU requested / allocatable"].endswith("%")
