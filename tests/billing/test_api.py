"""The reports, placements and decisions API: the same numbers as the pages, OpenCost's window and
aggregate vocabulary, one error body, pagination, tokens, and nothing of another organization."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from engines.metering.windows import floor_hour
from tests.billing.ledger_builders import (
    make_cluster,
    minutes,
    page_table,
    record_minutes,
    seed_placements,
    shop_nodes,
)
from tests.conftest import token_client
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db

SCALE = 100


@pytest.fixture
def metered(cast):
    cluster = make_cluster(cast.org_a, "shop-prod")
    record_minutes(cluster, minutes(floor_hour(timezone.now()), 5), nodes=shop_nodes(SCALE))
    return cluster


def test_the_savings_report_api_has_the_three_numbers_the_methods_and_the_page_totals(
    metered, api_a, owner_client
) -> None:
    body = api_a.get("/api/v1/reports/savings/?window=today&aggregate=workload").json()
    assert body["aggregate"] == "workload" and body["window"]["key"] == "today"
    totals = body["totals"]
    # Money is a decimal string to the cent: the rows' cents add up to the total's within the rounding
    # of each row (half a cent each).
    assert totals["actual"] == "1.12" == f"{5 * (0.096 + 0.0384) * SCALE / 60:.2f}"
    actual, on_demand = Decimal(totals["actual"]), Decimal(totals["on_demand_only"])
    assert abs(Decimal(totals["saved_vs_on_demand_only"]) - (on_demand - actual)) <= Decimal("0.01")
    assert [row["group"] for row in body["rows"]] == ["shop/Deployment/web", "batch/Job/etl", "__idle__"]
    rows_sum = sum(Decimal(row["actual"]) for row in body["rows"])
    assert abs(rows_sum - actual) <= Decimal("0.005") * len(body["rows"])
    assert set(body["methods"]) == {"actual", "static_pool", "on_demand_only", "serverless_only"}
    (pool,) = body["static_pools"]
    assert pool["cluster_name"] == "shop-prod" and pool["cpu_pool"]["nodes"] >= 1
    page = page_table(
        get_page(owner_client, "/reports/?window=today&group=workload", queries=12).content.decode(),
        "table-savings",
    )
    assert page[-1][3] == f"${Decimal(totals['static_pool']):,.2f}"


def test_spend_and_utilization_series_cover_every_bucket_of_the_window(metered, api_a) -> None:
    spend = api_a.get("/api/v1/reports/spend/?window=7d").json()
    assert spend["window"]["step"] == "day" and len(spend["points"]) in (7, 8)
    spent = sum(Decimal(point["actual"]) for point in spend["points"])
    assert float(spent) == pytest.approx(5 * 0.224 * SCALE / 100, abs=0.005 * len(spend["points"]))
    today = api_a.get("/api/v1/reports/utilization/?window=today").json()
    assert today["window"]["step"] == "hour" and not today["usage_measured"]
    busy = [point for point in today["points"] if point["cpu_allocatable_core_hours"]]
    assert len(busy) == 1 and busy[0]["cpu_requested_pct"] == pytest.approx(100 * 2.5 / 3.8)


def test_the_overview_api(metered, api_a) -> None:
    body = api_a.get("/api/v1/reports/overview/").json()
    assert body["spend_today"] == "1.12" and body["top_workloads"][0]["cost"].count(".") == 1
    assert {count["capacity_type"] for count in body["nodes"]} == {"on_demand", "spot"}
    assert body["top_workloads"][0]["workload"] == "Deployment/web"


def test_bad_parameters_get_the_one_error_body(metered, api_a) -> None:
    response = api_a.get("/api/v1/reports/savings/?window=2026-05-01,2026-04-01")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "window" in error["fields"] and "empty" in error["message"]
    response = api_a.get("/api/v1/reports/savings/?aggregate=label:app")
    assert response.status_code == 400 and "aggregate" in response.json()["error"]["fields"]


def test_pod_placements_are_paginated_filtered_and_link_their_decision(metered, api_a) -> None:
    decision = seed_placements(metered)
    page = api_a.get("/api/v1/placements/pods/?page_size=2").json()
    assert set(page) == {"count", "next", "previous", "results"} and page["count"] == 3
    batch = api_a.get("/api/v1/placements/pods/?namespace=batch").json()["results"]
    assert [(pod["name"], pod["decision"], pod["cluster_name"]) for pod in batch] == [
        ("etl-1", decision.pk, "shop-prod")
    ]
    detail = api_a.get(f"/api/v1/decisions/{decision.pk}/").json()
    assert detail["chosen"]["instance_type"] == "m5.large" and len(detail["runner_ups"]) == 2


def test_another_organizations_token_sees_only_its_own_zeroes(metered, api_b, cast) -> None:
    seed_placements(metered)
    assert api_b.get("/api/v1/reports/savings/?window=30d").json()["totals"]["actual"] == "0.00"
    assert api_b.get("/api/v1/placements/pods/").json()["count"] == 0
    assert api_b.get("/api/v1/reports/overview/").json()["spend_today"] == "0.00"


def test_reports_need_a_signed_in_member_or_a_read_token(metered, client, cast) -> None:
    assert client.get("/api/v1/reports/savings/").status_code == 401
    from tenants import services
    from tenants.actors import Actor

    _, plaintext = services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="ro", scopes=["read"]
    )
    assert token_client(plaintext).get("/api/v1/reports/savings/").status_code == 200
    refused = token_client(plaintext).post("/api/v1/reports/savings/")
    assert refused.status_code == 403 and "'write' scope" in refused.json()["error"]["message"]
    assert token_client(cast.token_a_plaintext).post("/api/v1/reports/savings/").status_code == 405


def test_the_openapi_schema_documents_the_reports(client) -> None:
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for path in (
        "/api/v1/reports/savings/",
        "/api/v1/reports/spend/",
        "/api/v1/reports/utilization/",
        "/api/v1/reports/overview/",
        "/api/v1/placements/pods/",
        "/api/v1/decisions/{id}/",
    ):
        assert path in paths, path
    parameters = {p["name"] for p in paths["/api/v1/reports/savings/"]["get"]["parameters"]}
    assert {"window", "aggregate"} <= parameters


CENTS = re.compile(r"^-?\d+\.\d{2}$")
RATE = re.compile(r"^-?\d+\.\d{6}$")


def _money_values(value, key=""):
    """(key, value) of every field named as money in an API body, at any depth."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name != "methods":  # the baselines' explanations, in words
                yield from _money_values(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _money_values(item, key)
    elif (
        key.endswith(("per_hour", "actual", "static_pool", "on_demand_only", "serverless_only", "cost"))
        or (key.startswith("saved_vs_") and not key.endswith("_pct"))
        or key in {"spend_today", "month_to_date", "projected_month_end", "on_demand", "spot", "serverless"}
    ):
        yield key, value


def test_money_is_a_decimal_string_amounts_to_the_cent_and_rates_to_six_decimals(metered, api_a) -> None:
    decision = seed_placements(metered)
    bodies = [
        api_a.get("/api/v1/reports/savings/?window=today&aggregate=workload").json(),
        api_a.get("/api/v1/reports/spend/?window=today").json(),
        api_a.get("/api/v1/reports/overview/").json(),
        api_a.get("/api/v1/placements/pods/").json(),
        api_a.get(f"/api/v1/decisions/{decision.pk}/").json(),
    ]
    found = [(key, value) for body in bodies for key, value in _money_values(body) if value is not None]
    assert {key for key, _ in found} >= {"actual", "node_price_per_hour", "price_per_hour", "spend_today"}
    for key, value in found:
        pattern = RATE if key.endswith("per_hour") else CENTS
        assert isinstance(value, str) and pattern.match(value), (key, value)


def test_the_schema_says_money_is_a_decimal_string(client) -> None:
    schemas = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["components"]["schemas"]
    for schema, field in (
        ("SavingsRow", "actual"),
        ("Overview", "spend_today"),
        ("PodPlacement", "cost_per_hour"),
    ):
        described = schemas[schema]["properties"][field]
        assert described["type"] == "string" and described["format"] == "decimal", (schema, described)


def test_shared_namespaces_spread_their_cost_over_the_others_by_spend(metered, api_a, owner_client) -> None:
    plain = api_a.get("/api/v1/reports/savings/?window=today&aggregate=namespace").json()
    body = api_a.get("/api/v1/reports/savings/?window=today&aggregate=namespace&share=batch").json()
    assert body["shared"] == ["batch"] and plain["shared"] == []
    assert [row["group"] for row in body["rows"]] == ["shop", "__idle__"]  # batch's cost is in shop's
    assert body["totals"] == plain["totals"]  # every column's total is unchanged
    before = {row["group"]: Decimal(row["actual"]) for row in plain["rows"]}
    shop = next(row for row in body["rows"] if row["group"] == "shop")
    assert abs(Decimal(shop["actual"]) - (before["shop"] + before["batch"])) <= Decimal("0.01")
    assert api_a.get("/api/v1/reports/savings/?share=Kube_System").status_code == 400
    page = get_page(owner_client, "/reports/?window=today&group=namespace&share=batch", queries=12)
    html = page.content.decode()
    assert "Shared costs: batch spread over the other rows" in html and 'value="batch"' in html
    assert [row[0] for row in page_table(html, "table-savings")[1:]] == ["shop", "Idle capacity", "Total"]
