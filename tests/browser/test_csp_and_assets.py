"""In a real browser: every main page of a seeded organization loads with no Content-Security-Policy
violation and no request answered 404. The CSP (style-src 'self', script-src 'self') silently drops
inline style attributes, inline <style> and inline scripts: layouts break without a server error, so
only the browser's console tells."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from clusters.models import ClusterMode, ManagedNode, NodeState
from engines.metering.windows import floor_hour
from tests.billing.ledger_builders import make_cluster, minutes, record_minutes, seed_placements, shop_nodes
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Chromium's wording for a CSP violation, for inline styles, inline scripts and blocked sources alike.
CSP_MARKERS = ("Content Security Policy", "Content-Security-Policy")


@pytest.fixture
def seeded(cast):
    cluster = make_cluster(cast.org_a, "shop-prod", mode=ClusterMode.NODELESS)
    now_hour = floor_hour(timezone.now())
    record_minutes(cluster, minutes(now_hour, 5), nodes=shop_nodes(100))
    record_minutes(cluster, minutes(now_hour - timedelta(days=3), 30), nodes=shop_nodes(100))
    decision = seed_placements(cluster)
    for index, capacity in enumerate(("on_demand", "spot")):
        ManagedNode.objects.create(
            organization=cast.org_a,
            cluster=cluster,
            idempotency_token=f"seed-{index}",
            state=NodeState.READY,
            node_name=f"ip-10-0-0-{index + 1}.ec2.internal",
            instance_type="m5.large",
            capacity_type=capacity,
            zone="us-east-1a",
            price_per_hour=Decimal("0.3853"),
            list_price_per_hour=Decimal("0.4"),
        )
    return cluster, decision


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_main_pages_load_without_csp_violations_or_404s(live_server, page: Page, cast, seeded) -> None:
    cluster, decision = seeded
    problems: list[str] = []
    visiting = {"path": "/login/"}

    def on_console(message: ConsoleMessage) -> None:
        if any(marker in message.text for marker in CSP_MARKERS):
            problems.append(f"{visiting['path']}: CSP: {message.text}")

    def on_response(response: Response) -> None:
        if response.status == 404:
            problems.append(f"{visiting['path']}: 404 {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda error: problems.append(f"{visiting['path']}: script error: {error}"))
    _sign_in(page, live_server.url, cast.alice.email)

    pages = {
        "/": "Overview",
        "/reports/": None,
        "/placement/": None,
        f"/placement/decisions/{decision.pk}/": "Launch decision",
        "/rightsizing/": "Right-sizing",
        "/clusters/": None,
        f"/clusters/{cluster.pk}/": cluster.name,
        f"/clusters/{cluster.pk}/policy/": None,
        "/policies/": None,
        "/policies/provisioning/": None,
        "/policies/federation/": None,
        "/policies/federation/new/": None,
        "/workloads/": None,
        "/workloads/new/": None,
        "/clusters/connect/aws/": None,
        "/clusters/connect/kubeconfig/": None,
        "/settings/": None,
        "/settings/members/": None,
        "/settings/tokens/": None,
        "/settings/audit/": None,
        "/settings/cloud-accounts/": None,
        "/organizations/new/": None,
    }
    for path, heading in pages.items():
        visiting["path"] = path
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        if heading:
            expect(page.get_by_role("heading", name=heading).first).to_be_visible()
        # htmx-loaded parts (the cluster's activity, policy previews) render after the load event.
        page.wait_for_load_state("networkidle")
    expect(page.locator("link[rel=icon]")).to_have_count(1)

    # A form with errors renders the error summaries and inline errors too.
    visiting["path"] = "/policies/provisioning/ (invalid)"
    page.goto(f"{live_server.url}/policies/provisioning/")
    page.get_by_label("…or at least (MiB)").fill("0")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".alert.error").first).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert not problems, "\n".join(problems)


def test_cluster_activity_reads_as_prices_cores_and_labels(live_server, page: Page, cast, seeded) -> None:
    cluster, _ = seeded
    _sign_in(page, live_server.url, cast.alice.email)
    page.goto(f"{live_server.url}/clusters/{cluster.pk}/")
    nodes = page.locator("#managed-nodes")
    expect(nodes.locator("tbody tr")).to_have_count(2)
    expect(nodes).to_contain_text("$0.39/h")  # one money format: $0.3853/h to the cent
    expect(nodes.locator('span.money[title="$0.385300/h"]').first).to_be_visible()
    expect(nodes.locator(".badge", has_text="On-demand")).to_be_visible()
    expect(nodes).not_to_contain_text("on_demand")
    # The checkbox and its label share a line. Measured in one go: the live validation's banner, swapped
    # in on load, moves the whole form down.
    page.goto(f"{live_server.url}/policies/provisioning/")
    page.wait_for_load_state("networkidle")
    checkbox, label = page.get_by_label("Current generation only").evaluate(
        "box => [box, box.labels[0]].map(e => { const r = e.getBoundingClientRect(); "
        "return {x: r.x, top: r.top, bottom: r.bottom}; })"
    )
    assert label["x"] > checkbox["x"]
    assert label["top"] < checkbox["bottom"] and checkbox["top"] < label["bottom"]
