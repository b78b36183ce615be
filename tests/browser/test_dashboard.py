"""In a real browser: open the overview (charts drawn from our static Chart.js), change the report's
window and grouping (htmx swaps the report and the URL follows), download a CSV, and open the decision
behind a pod's placement with its runner-ups and their prices."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from engines.metering.windows import floor_hour
from tests.billing.ledger_builders import make_cluster, minutes, record_minutes, seed_placements, shop_nodes
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dashboard(cast):
    cluster = make_cluster(cast.org_a, "shop-prod")
    now_hour = floor_hour(timezone.now())
    record_minutes(cluster, minutes(now_hour, 5), nodes=shop_nodes(100))
    record_minutes(cluster, minutes(now_hour - timedelta(days=3), 30), nodes=shop_nodes(100))
    return cluster, seed_placements(cluster)


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_overview_report_controls_csv_and_a_placement_decision(
    live_server, page: Page, cast, dashboard
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, live_server.url, cast.alice.email)
    expect(page.locator('[data-stat="today"] .value')).to_have_text("$1.12")
    expect(page.locator("canvas#chart-daily")).to_have_attribute("data-drawn", "true")
    expect(page.locator("canvas#chart-nodes")).to_have_attribute("data-drawn", "true")

    page.get_by_role("link", name="Reports").click()
    expect(page.locator("#report-window")).to_have_attribute("data-window", "7d")
    expect(page.locator('[data-stat="actual"] .value')).to_have_text("$7.84")  # 35 minutes at $0.224
    page.get_by_label("Window").select_option("today")
    expect(page.locator("#report-window")).to_have_attribute("data-window", "today")
    expect(page.locator('[data-stat="actual"] .value')).to_have_text("$1.12")
    page.get_by_label("Group by").select_option("workload")
    expect(page.locator("#table-savings tbody tr").first.locator("td").first).to_have_text(
        "shop/Deployment/web"
    )
    assert "window=today" in page.url and "group=workload" in page.url
    expect(page.locator("canvas#chart-spend")).to_have_attribute("data-drawn", "true")

    savings_panel = page.locator(".table-panel", has=page.locator("#table-savings"))
    with page.expect_download() as download_info:
        savings_panel.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0][0] == "Workload" and rows[1][0] == "shop/Deployment/web"
    assert rows[-1][:2] == ["Total", "1.12"]

    page.get_by_role("link", name="Placement").click()
    pod_row = page.locator("#table-pods tr", has_text="shop/web-1")
    expect(pod_row).to_contain_text("m5.large")
    pod_row.get_by_role("link", name="why?").click()
    expect(page.get_by_role("heading", name="Launch decision")).to_be_visible()
    options = page.locator("#decision-options")
    expect(options.locator("tr.chosen")).to_contain_text("m5.large")
    expect(options.locator("tr", has_text="c5.xlarge")).to_contain_text(
        "+$54.02/mo"
    )  # $0.074/h more, over a month
    assert not errors, errors
