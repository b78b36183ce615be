"""Edges of the dashboard: the last hour of a UTC day, downloads asked for with bad input, and
placement filters naming clusters that are not the organization's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.selectors.usage import cluster_spend
from tests.billing.ledger_builders import make_cluster, minutes, record_minutes, shop_nodes
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db

MINUTE_COST = (0.096 + 0.0384) / 60  # the two shop nodes at list price


@pytest.mark.parametrize("hour", [0, 12, 23])
def test_spend_today_counts_the_hours_of_today_whatever_the_hour(cast, hour) -> None:
    cluster = make_cluster(cast.org_a, "shop-prod")
    day = datetime(2026, 11, 10, tzinfo=UTC)
    record_minutes(cluster, minutes(day.replace(hour=hour), 5), nodes=shop_nodes())
    record_minutes(cluster, minutes(datetime(2026, 11, 9, 22, tzinfo=UTC), 3), nodes=shop_nodes())

    spend = cluster_spend(cluster, day.replace(hour=hour, minute=30))

    assert spend.today == pytest.approx(5 * MINUTE_COST, abs=1e-9)
    assert spend.month == pytest.approx(8 * MINUTE_COST, abs=1e-9)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("window=fortnight", "is not a report window"),
        ("group=color", "color"),
        ("window=custom&from=2026-11-01", "needs both a start and an end date"),
    ],
)
def test_a_csv_asked_for_with_bad_input_is_refused_with_what_was_wrong(
    cast, owner_client, query, message
) -> None:
    make_cluster(cast.org_a, "shop-prod")
    response = owner_client.get(f"/reports/csv/?table=savings&{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_reports_page_shows_the_problem_with_a_custom_window_and_falls_back(cast, owner_client) -> None:
    make_cluster(cast.org_a, "shop-prod")
    response = get_page(owner_client, "/reports/?window=custom&to=2026-11-01", queries=12)
    assert response.status_code == 200
    assert "needs both a start and an end date" in response.content.decode()


def test_the_placement_filter_answers_404_for_a_cluster_that_is_not_the_organizations(
    cast, owner_client
) -> None:
    ours = make_cluster(cast.org_a, "shop-prod")
    theirs = make_cluster(cast.org_b, "rival")
    get_page(owner_client, f"/placement/?cluster={ours.pk}", queries=12)
    for page in ("/placement/", "/placement/csv/"):
        assert owner_client.get(f"{page}?cluster={theirs.pk}").status_code == 404
        assert owner_client.get(f"{page}?cluster=not-a-cluster").status_code == 404
