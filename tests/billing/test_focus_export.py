"""The FOCUS export: FinOps FOCUS 1.0 columns, one row per node and hour, whose effective and billed
costs add up to the actual spend the Reports page shows for the same window, list cost at on-demand,
and nothing of another organization's."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.selectors.focus import COLUMNS
from engines.metering import NodeSample, Quantities
from engines.metering.money import usd
from engines.metering.windows import floor_hour
from tests.billing.ledger_builders import make_cluster, minutes, record_minutes, shop_nodes

SCALE = 100.0


def focus(client, query: str = "window=today") -> list[dict[str, str]]:
    response = client.get(f"/reports/focus.csv?{query}")
    assert response.status_code == 200, response
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(body))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


@pytest.fixture
def metered(cast):
    cluster = make_cluster(cast.org_a, "=shop-prod")  # a name a spreadsheet would run as a formula
    on_prem = NodeSample("rack-1", "", "unpriced", "", None, Quantities(8, 32), Quantities(7.5, 30))
    record_minutes(cluster, minutes(floor_hour(timezone.now()), 5), nodes=[*shop_nodes(SCALE), on_prem])
    return cluster


@pytest.mark.django_db
def test_rows_add_up_to_the_reports_actual_spend_with_list_cost_at_on_demand(metered, owner_client, api_a):
    rows = focus(owner_client)
    assert {row["ResourceName"] for row in rows} == {"od-1", "spot-1", "rack-1"}
    actual = api_a.get("/api/v1/reports/savings/?window=today&aggregate=cluster").json()["totals"]["actual"]
    assert usd(sum(Decimal(row["BilledCost"]) for row in rows)) == actual  # the API's is to the cent
    by_node = {row["ResourceName"]: row for row in rows}
    spot, on_demand = by_node["spot-1"], by_node["od-1"]
    assert spot["PricingCategory"] == "Dynamic" and on_demand["PricingCategory"] == "Standard"
    assert Decimal(spot["EffectiveCost"]) < Decimal(spot["ListCost"]) == Decimal(on_demand["ListCost"])
    assert Decimal(on_demand["EffectiveCost"]) == Decimal(on_demand["ListCost"])
    on_prem = by_node["rack-1"]  # a node with no known price: in the data, at $0, priced "Other"
    assert (on_prem["PricingCategory"], Decimal(on_prem["BilledCost"])) == ("Other", Decimal(0))
    assert "unpriced node rack-1" in on_prem["ChargeDescription"]
    for row in rows:
        assert row["BilledCost"] == row["EffectiveCost"]
        assert Decimal(row["x_AllocatedCost"]) + Decimal(row["x_IdleCost"]) == pytest.approx(
            Decimal(row["EffectiveCost"]), abs=Decimal("1e-8")
        )
        assert Decimal(row["ConsumedQuantity"]) == pytest.approx(Decimal(5) / 60, abs=Decimal("1e-8"))
        assert row["ChargePeriodStart"] < row["ChargePeriodEnd"] and row["BillingCurrency"] == "USD"
        assert row["SubAccountName"] == "'=shop-prod"  # escaped: never a spreadsheet formula


@pytest.mark.django_db
def test_an_outsider_exports_none_of_the_organizations_spend(metered, outsider_client) -> None:
    assert focus(outsider_client) == []


@pytest.mark.django_db
def test_a_bad_window_is_refused_with_what_to_do(metered, owner_client) -> None:
    response = owner_client.get("/reports/focus.csv?window=custom&from=2026-01-01")
    assert response.status_code == 400
    assert "start and an end date" in response.content.decode()
    assert owner_client.get("/reports/focus.csv?window=bogus").status_code == 400
