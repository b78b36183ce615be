"""The right-sizing surface: the page (status, query budget, links), the API (shape, decimal-string
money, filters, clear 400s, the schema) and the CSV (the page's numbers, text cells escaped), each
tenant-owned: another organization's cluster is a 404, and its own lists show nothing of ours."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal

import pytest

from billing.models import ContainerUsageHour
from tests.billing.ledger_builders import make_cluster, page_table
from tests.billing.rightsizing_builders import record_shop
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(cast):
    cluster = make_cluster(cast.org_a, "shop-prod")
    record_shop(cluster)
    return cluster


def test_the_api_lists_workloads_with_stable_ids_and_money_as_decimal_strings(shop, api_a) -> None:
    body = api_a.get("/api/v1/rightsizing/").json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 3
    web = next(row for row in body["results"] if row["workload"] == "Deployment/web")
    assert (web["cluster"], web["cluster_name"], web["namespace"], web["kind"], web["name"]) == (
        str(shop.pk),
        "shop-prod",
        "shop",
        "Deployment",
        "web",
    )
    assert isinstance(web["monthly_saving"], str) and Decimal(web["monthly_saving"]) > 0
    assert web["monthly_saving"] == f"{Decimal(web['monthly_saving']):.2f}"
    assert isinstance(web["cpu_rate_per_core_hour"], str) and Decimal(web["cpu_rate_per_core_hour"]) > 0
    assert (
        web["verdict"] == "resize"
        and web["confidence"] == "medium"
        and web["average_pods"] == pytest.approx(2)
    )
    (app,) = web["containers"]
    assert app["name"] == "app" and app["cpu_request"] == 1.0 and app["cpu_recommended"] < 0.3
    assert web["kubectl"].startswith("kubectl -n shop patch deployment web")
    assert Decimal(app["monthly_saving"]) == Decimal(web["monthly_saving"])
    again = api_a.get("/api/v1/rightsizing/?window=24h").json()
    assert {row["id"] for row in again["results"]} == {row["id"] for row in body["results"]}
    etl = next(row for row in body["results"] if row["workload"] == "Job/etl")
    assert etl["verdict"] == "insufficient-data" and etl["monthly_saving"] is None and etl["kubectl"] is None


def test_the_api_filters_by_cluster_and_namespace(shop, api_a, cast) -> None:
    batch = api_a.get("/api/v1/rightsizing/?namespace=batch").json()["results"]
    assert [row["workload"] for row in batch] == ["Job/etl"]
    assert api_a.get(f"/api/v1/rightsizing/?cluster={shop.pk}").json()["count"] == 3
    other = make_cluster(cast.org_a, "other")
    assert api_a.get(f"/api/v1/rightsizing/?cluster={other.pk}").json()["count"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [("window=5d", "window"), ("cluster=shop-prod", "cluster"), ("namespace=" + "n" * 64, "namespace")],
)
def test_bad_api_parameters_are_a_400_that_names_the_field(shop, api_a, query: str, field: str) -> None:
    response = api_a.get(f"/api/v1/rightsizing/?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_another_organization_gets_404_for_our_cluster_and_an_empty_list(shop, api_b) -> None:
    assert api_b.get(f"/api/v1/rightsizing/?cluster={shop.pk}").status_code == 404
    assert api_b.get(f"/api/v1/rightsizing/?cluster={uuid.uuid4()}").status_code == 404
    assert api_b.get("/api/v1/rightsizing/").json()["count"] == 0


def test_the_openapi_schema_documents_right_sizing(client) -> None:
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    operation = paths["/api/v1/rightsizing/"]["get"]
    assert {"cluster", "namespace", "window"} <= {p["name"] for p in operation["parameters"]}


def test_the_page_lists_containers_with_their_snippets_within_its_query_budget(shop, owner_client) -> None:
    owner_client.get("/rightsizing/")  # the session's first request writes it
    html = get_page(owner_client, "/rightsizing/", queries=11).content.decode()
    rows = page_table(html, "table-rightsizing")
    assert rows[0][:4] == ["Workload", "Namespace", "Cluster", "Container"]
    by_workload = {row[0]: row for row in rows[1:]}
    assert set(by_workload) == {"Deployment/web", "StatefulSet/db", "Job/etl"}
    assert by_workload["Deployment/web"][4:6] == ["1", by_workload["Deployment/web"][5]]
    assert by_workload["Deployment/web"][5].endswith("m") and by_workload["Job/etl"][9] == "Too little data"
    assert "kubectl -n shop patch deployment web" in html and 'data-snippet="manifest"' in html
    assert rows[0][-1] == "Saving $/month"  # the reasons are under each workload, not in a cell
    assert "OOM-killed 1 time: memory is raised" in html and "Too little data: 2 samples" in html
    assert 'href="/rightsizing/"' in html  # the navigation
    assert "Workloads to resize" in html


def test_the_page_filters_and_refuses_a_bad_window(shop, owner_client) -> None:
    html = get_page(owner_client, "/rightsizing/?namespace=batch", queries=14).content.decode()
    assert [row[0] for row in page_table(html, "table-rightsizing")[1:]] == ["Job/etl"]
    response = owner_client.get("/rightsizing/?window=5d")
    assert response.status_code == 400 and "use one of 24h, 3d, 7d" in response.content.decode()
    assert owner_client.get("/rightsizing/csv/?window=1y").status_code == 400


def test_the_cluster_page_links_its_right_sizing(shop, owner_client) -> None:
    html = owner_client.get(f"/clusters/{shop.pk}/").content.decode()
    assert f'href="/rightsizing/?cluster={shop.pk}"' in html


def test_an_empty_page_says_where_recommendations_come_from(owner_client) -> None:
    html = get_page(owner_client, "/rightsizing/", queries=12).content.decode()
    assert "No usage measured yet" in html and "metrics.k8s.io" in html


def test_the_csv_holds_the_pages_rows_with_text_cells_escaped(shop, owner_client) -> None:
    ContainerUsageHour.objects.filter(workload="Job/etl").update(namespace="=HYPERLINK(1)")
    response = owner_client.get("/rightsizing/csv/?window=7d")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="nodeless-rightsizing-7d.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["Workload", "Namespace", "Cluster", "Container"] and rows[0][-1] == "Why"
    by_workload = {row[0]: row for row in rows[1:]}
    assert by_workload["Job/etl"][1] == "'=HYPERLINK(1)"
    assert by_workload["StatefulSet/db"][-1].startswith("CPU p90")
    web = by_workload["Deployment/web"]
    assert Decimal(web[11]) > 0 and web[11] == f"{Decimal(web[11]):.2f}"
    html = owner_client.get("/rightsizing/").content.decode()
    page = {row[0]: row for row in page_table(html, "table-rightsizing")[1:]}
    assert page["Deployment/web"][11] == f"${Decimal(web[11]):,.2f}"


def test_an_outsider_gets_404_for_our_cluster_on_the_page_and_the_csv_and_sees_nothing(
    shop, outsider_client
) -> None:
    assert outsider_client.get(f"/rightsizing/?cluster={shop.pk}").status_code == 404
    assert outsider_client.get(f"/rightsizing/csv/?cluster={shop.pk}").status_code == 404
    for url in ("/rightsizing/", "/rightsizing/csv/"):
        body = outsider_client.get(url).content.decode()
        assert "shop-prod" not in body and "Deployment/web" not in body, url
