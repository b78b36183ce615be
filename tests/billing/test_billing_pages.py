"""The overview, reports and placement pages: the numbers metering recorded, htmx partials, CSV that
matches the page, empty states, roles, outsiders, and a bounded number of SQL queries."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape

import pytest
from django.utils import timezone

from engines.metering.money import usd
from engines.metering.windows import floor_hour
from tests.billing.ledger_builders import (
    as_number,
    make_cluster,
    minutes,
    page_table,
    record_minutes,
    seed_placements,
    shop_nodes,
)
from tests.fixtures.pages import get_page, page_queries

pytestmark = pytest.mark.django_db

SCALE = 100  # node prices ×100: $0.224 a minute for the two nodes
MINUTE_COST = (0.096 + 0.0384) * SCALE / 60
QUERY_BUDGET = 20


@pytest.fixture
def metered(cast):
    """Org A's cluster "shop-prod" metered for the first 5 minutes of the current hour."""
    cluster = make_cluster(cast.org_a, "shop-prod")
    record_minutes(cluster, minutes(floor_hour(timezone.now()), 5), nodes=shop_nodes(SCALE))
    return cluster


def _stat(html: str, name: str) -> str:
    match = re.search(rf'data-stat="{name}"><div class="label">[^<]*</div><div class="value">([^<]*)<', html)
    assert match, f"no {name} figure on the page"
    return match.group(1)


def test_the_overview_shows_spend_savings_utilization_nodes_and_top_workloads(metered, owner_client) -> None:
    html = get_page(owner_client, "/", queries=16).content.decode()
    assert _stat(html, "today") == f"${5 * MINUTE_COST:,.2f}" == "$1.12"
    assert _stat(html, "month") == "$1.12"
    rows = page_table(html, "top-workloads")
    assert [row[0] for row in rows[1:]] == ["shop/Deployment/web", "batch/Job/etl"]
    chart = re.search(r'<canvas id="chart-nodes" data-chart="([^"]*)"', html)
    assert chart is not None
    nodes = json.loads(unescape(chart.group(1)))
    assert nodes["labels"] == ["On-demand", "Spot"] and nodes["datasets"][0]["data"] == [1.0, 1.0]
    assert "Usage is not measured" in html
    assert 'src="/static/vendor/chart-4.6.1.umd.min.js"' in html and 'src="/static/js/charts.js"' in html


def test_the_overview_says_what_happens_next_before_metering_and_before_any_cluster(
    cast, owner_client
) -> None:
    assert "Connect your first cluster" in get_page(owner_client, "/", queries=16).content.decode()
    make_cluster(cast.org_a, "new")
    assert "Metering starts within a minute" in get_page(owner_client, "/", queries=13).content.decode()


def test_the_report_shows_three_labelled_numbers_and_how_each_baseline_is_computed(
    metered, owner_client
) -> None:
    html = get_page(owner_client, "/reports/?window=today&group=namespace", queries=12).content.decode()
    assert _stat(html, "actual") == "$1.12"
    for name in ("static_pool", "on_demand_only", "serverless_only"):
        assert _stat(html, name).startswith("$")
    for words in (
        "Hand-curated node pools",
        "every one on-demand",
        "Every pod alone on the serverless platform",
    ):
        assert words in html
    rows = page_table(html, "table-savings")
    assert rows[0][:2] == ["Namespace", "Actual spend"]
    assert [row[0] for row in rows[1:]] == ["shop", "batch", "Idle capacity", "Total"]
    assert rows[-1][1] == "$1.12"
    on_demand_only = 5 * 2 * 0.096 * SCALE / 60  # both nodes at the on-demand price
    # The headline order: on-demand with the same packing, static pools, serverless.
    assert rows[0][2:5] == ["On-demand, same packing", "Static pools", "Serverless only"]
    assert as_number(rows[-1][2]) == f"{on_demand_only:.2f}"


def test_changing_window_and_grouping_over_htmx_returns_only_the_report(metered, owner_client) -> None:
    response = owner_client.get("/reports/?window=7d&group=workload", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert [row[0] for row in page_table(html, "table-savings")[1:]] == [
        "shop/Deployment/web",
        "batch/Job/etl",
        "Idle capacity",
        "Total",
    ]
    assert 'data-window="7d"' in html and 'data-group="workload"' in html
    capacity = get_page(owner_client, "/reports/?window=7d&group=capacity_type", queries=9).content.decode()
    assert [row[0] for row in page_table(capacity, "table-savings")[1:]] == [
        "On-demand",
        "Spot",
        "Idle capacity",
        "Total",
    ]


def test_a_custom_range_of_dates_is_a_window_and_its_csv_link_keeps_it(metered, owner_client) -> None:
    today = timezone.now().date().isoformat()
    html = get_page(
        owner_client, f"/reports/?window=custom&from={today}&to={today}&group=cluster", queries=12
    ).content.decode()
    assert f'data-window="{today},{today}"' in html and _stat(html, "actual") == "$1.12"
    assert f"table=savings&amp;window={today}%2C{today}&amp;group=cluster" in html
    assert [row[0] for row in page_table(html, "table-savings")[1:]] == [
        "shop-prod",
        "Idle capacity",
        "Total",
    ]


def test_a_bad_window_or_grouping_is_explained_and_the_default_shown(metered, owner_client) -> None:
    html = get_page(owner_client, "/reports/?window=fortnight", queries=12).content.decode()
    assert "is not a report window" in html and 'data-window="7d"' in html
    html = get_page(owner_client, "/reports/?group=color", queries=9).content.decode()
    assert "is not a grouping" in html


@pytest.mark.parametrize("table", ["savings", "spend", "utilization", "pools"])
@pytest.mark.parametrize("group", ["namespace", "workload", "cluster", "capacity_type"])
def test_every_report_table_downloads_as_csv_with_the_numbers_on_the_page(
    metered, owner_client, table, group
) -> None:
    query = f"window=today&group={group}"
    page = page_table(
        get_page(owner_client, f"/reports/?{query}", queries=12).content.decode(), f"table-{table}"
    )
    response = owner_client.get(f"/reports/csv/?table={table}&{query}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == page[0]
    # The page folds each run of unmetered hours into one line ("… (10 hours)"); the file keeps them.
    shown = [row for row in page[1:] if len(row) == len(page[0])]
    folded = [re.search(r"\((\d+) hours?\)$", row[0]) for row in page[1:] if len(row) == 1]
    assert all(folded)
    folded_hours = sum(int(match.group(1)) for match in folded if match)
    assert shown and len(rows) - 1 == len(shown) + folded_hours
    periods = {row[0] for row in shown}
    in_file = [row for row in rows[1:] if row[0] in periods]
    for on_page, in_csv in zip(shown, in_file, strict=True):
        # Amounts are the page's cents; a price per hour keeps six decimals in the file (the page's
        # cell has them as its title), which round to the page's cents.
        assert [as_number(cell) for cell in on_page] == [_to_cents(as_number(cell)) for cell in in_csv]


def _to_cents(value: str) -> str:
    """A CSV number as the page shows it: rates (six decimals) to the cent; other cells as they are."""
    return usd(value) or "" if re.fullmatch(r"-?\d+\.\d{6}", value) else value


def test_the_csv_of_an_unknown_table_is_a_404(metered, owner_client) -> None:
    assert owner_client.get("/reports/csv/?table=secrets").status_code == 404


def test_placement_shows_where_each_pod_runs_and_links_the_decision_with_its_runner_ups(
    metered, owner_client
) -> None:
    decision = seed_placements(metered)
    html = get_page(owner_client, "/placement/", queries=12).content.decode()
    rows = page_table(html, "table-pods")
    assert rows[0][:3] == ["Pod", "Workload", "Cluster"]
    assert {row[0] for row in rows[1:]} == {"shop/web-1", "shop/web-2", "batch/etl-1"}
    assert all(row[4] == "m5.large" and row[5] == "On-demand" and row[7] == "$0.10" for row in rows[1:])
    assert 'title="$0.096000/h">$0.10</td>' in html  # the exact price, which cents round
    assert f'href="/placement/decisions/{decision.pk}/"' in html

    detail = get_page(owner_client, f"/placement/decisions/{decision.pk}/", queries=5).content.decode()
    options = page_table(detail, "decision-options")
    assert [row[1] for row in options[1:]] == ["m5.large", "c5.xlarge", "m6i.large"]
    assert options[1][0] == "chosen" and options[2][-1] == "+$54.02/mo (+77 %)"  # $0.074/h more
    assert "cheapest offering that holds the 3 pending pods" in detail
    assert "shop/web-1, shop/web-2, batch/etl-1" in detail


def test_placement_filters_update_over_htmx_and_export_csv(metered, owner_client) -> None:
    decision = seed_placements(metered)
    partial = owner_client.get("/placement/?namespace=batch", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial
    assert [row[0] for row in page_table(partial, "table-pods")[1:]] == ["batch/etl-1"]
    assert (
        "No pod matches"
        in get_page(owner_client, "/placement/?capacity_type=spot", queries=8).content.decode()
    )
    rows = list(
        csv.reader(
            io.StringIO(owner_client.get("/placement/csv/?table=pods&namespace=shop").content.decode())
        )
    )
    assert [row[0] for row in rows[1:]] == ["shop/web-1", "shop/web-2"]
    # The Decision column names the decision (its id, as the API reads it), not the page's "why?".
    assert rows[0][-1] == "Decision" and {row[-1] for row in rows[1:]} == {str(decision.pk)}


def test_viewers_read_every_page_and_nobody_posts_to_them(metered, viewer_client, owner_client) -> None:
    decision = seed_placements(metered)
    for url in (
        "/",
        "/reports/",
        "/reports/csv/?table=savings",
        "/placement/",
        f"/placement/decisions/{decision.pk}/",
    ):
        assert viewer_client.get(url).status_code == 200, url
        assert viewer_client.post(url).status_code == 403, url
        assert owner_client.post(url).status_code == 405, url


def test_an_outsider_sees_none_of_the_organizations_spend_or_pods(metered, outsider_client) -> None:
    seed_placements(metered)
    for url in (
        "/",
        "/reports/?window=30d",
        "/placement/",
        "/reports/csv/?table=savings&group=cluster",
        "/placement/csv/?table=pods",
    ):
        body = outsider_client.get(url).content.decode()
        assert "shop-prod" not in body and "web-1" not in body and "$1.12" not in body, url


@pytest.mark.parametrize(
    "url",
    ["/", "/reports/", "/reports/?window=30d&group=workload", "/placement/", "/placement/?namespace=shop"],
)
def test_pages_stay_within_the_query_budget(
    metered, owner_client, django_assert_max_num_queries, url
) -> None:
    seed_placements(metered)
    owner_client.get(url)  # the first request pays for catalogs loaded once per process
    with django_assert_max_num_queries(QUERY_BUDGET):
        assert owner_client.get(url).status_code == 200


def test_cluster_activity_shows_spend_and_node_costs(metered, owner_client) -> None:
    html = get_page(owner_client, f"/clusters/{metered.pk}/activity/", queries=11).content.decode()
    assert 'id="cluster-spend"' in html and "$1.12" in html


def _metered_clusters(organization, first: int, last: int) -> None:
    """Clusters first..last-1, each metered for 2 minutes of this hour, each with its pods placed."""
    for index in range(first, last):
        cluster = make_cluster(organization, f"shop-{index:02d}")
        record_minutes(cluster, minutes(floor_hour(timezone.now()), 2), nodes=shop_nodes(SCALE))
        seed_placements(cluster)


@pytest.mark.parametrize(
    "url",
    ["/", "/reports/?window=today&group=cluster", "/reports/?window=today&group=workload", "/placement/"],
)
def test_the_money_pages_run_as_many_queries_for_eight_clusters_as_for_one(cast, owner_client, url) -> None:
    _metered_clusters(cast.org_a, 0, 1)
    one = page_queries(owner_client, url)
    _metered_clusters(cast.org_a, 1, 8)
    assert page_queries(owner_client, url) == one


def test_a_name_that_a_spreadsheet_would_run_is_written_as_text_in_the_csv(cast, owner_client) -> None:
    cluster = make_cluster(cast.org_a, '=HYPERLINK("http://evil.example","click")')
    record_minutes(cluster, minutes(floor_hour(timezone.now()), 5), nodes=shop_nodes(SCALE))
    response = owner_client.get("/reports/csv/?table=savings&window=today&group=cluster")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    names = [row[0] for row in rows[1:]]
    assert '\'=HYPERLINK("http://evil.example","click")' in names
    assert not any(name.startswith(("=", "+", "@")) for name in names)
    numbers = [cell for row in rows[1:] for cell in row[1:] if cell.startswith("-")]
    assert all(not cell.startswith("'") for cell in numbers)  # negative amounts stay numbers
