"""Bad input is a 4xx with a clear message, never a 500 (issue 17, item 4): NUL characters in
addresses and bodies, numbers beyond what a field or a column holds, report windows at the
calendar's ends, deeply nested or oversized bodies, fields of the wrong type."""

from __future__ import annotations

import json

import pytest
import yaml

from policies.models import FederationPolicy, ProvisioningPolicy, Workload
from tests.fixtures.federation import deployment

pytestmark = pytest.mark.django_db


def _api_error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


@pytest.mark.parametrize(
    "address",
    [
        "/api/v1/workloads/?status=%00",
        "/api/v1/workloads/?namespace=shop%00",
        "/api/v1/workloads/?kind=%00",
        "/api/v1/placements/pods/?namespace=%00",
        "/api/v1/placements/pods/?capacity_type=spot%00",
        "/api/v1/audit-events/?action=%00",
        "/api/v1/audit-events/?actor=al%00ice",
        "/api/v1/reports/savings/?aggregate=%00",
        "/api/v1/tokens/?%00=1",
        "/api/v1/clusters/%00/",
    ],
)
def test_a_nul_character_in_an_api_address_is_a_400(api_a, address: str) -> None:
    assert "NUL" in _api_error(api_a.get(address))["message"]


@pytest.mark.parametrize(
    "address",
    [
        "/settings/audit/?actor=%00",
        "/workloads/?status=%00",
        "/reports/?window=%00",
        "/placement/?namespace=%00",
    ],
)
def test_a_nul_character_in_a_page_address_is_a_400(owner_client, address: str) -> None:
    response = owner_client.get(address)
    assert response.status_code == 400 and b"NUL" in response.content


def test_a_nul_character_anywhere_in_an_api_body_is_a_400_and_nothing_is_stored(api_a) -> None:
    response = api_a.post(
        "/api/v1/federation-policies/",
        {"name": "web\x00", "strategy": "cheapest"},
        format="json",
    )
    assert "NUL" in _api_error(response)["message"]
    manifest = deployment(name="we\x00b")  # YAML writes it escaped: "we\0b"
    assert "NUL" in " ".join(
        _api_error(api_a.post("/api/v1/workloads/", {"manifest": manifest}, format="json"))["fields"][
            "manifest"
        ]
    )
    assert not FederationPolicy.objects.exists() and not Workload.objects.exists()


def test_an_unpaired_surrogate_in_an_api_body_is_a_400(api_a) -> None:
    policy = {"name": "web", "strategy": "cheapest", "workload_selector": {"namespaces": ["shop"]}}
    assert api_a.post("/api/v1/federation-policies/", policy, format="json").status_code == 201
    manifest = {**yaml.safe_load(deployment()), "x-note": "\ud800"}  # JSON writes it as an escape
    body = json.dumps({"manifest": manifest})
    error = _api_error(api_a.post("/api/v1/workloads/", body, content_type="application/json"))
    assert "surrogate" in error["message"]
    assert not Workload.objects.exists()


def test_a_deeply_nested_api_body_is_a_400(api_a) -> None:
    body = '{"name": "deep", "strategy": "cheapest", "spread": ' + "[" * 50_000 + "]" * 50_000 + "}"
    error = _api_error(api_a.post("/api/v1/federation-policies/", body, content_type="application/json"))
    assert "nested" in error["message"] and error["code"] == "parse_error"


def test_an_api_body_larger_than_the_limit_is_a_413(api_a, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"name": "big", "strategy": "cheapest", "description": "x" * 20_000})
    error = _api_error(api_a.post("/api/v1/federation-policies/", body, content_type="application/json"), 413)
    assert error["code"] == "too_large"


def test_non_finite_numbers_in_an_api_body_are_a_400(api_a) -> None:
    body = '{"name": "nan", "strategy": "cheapest", "egress_weight": NaN}'
    error = _api_error(api_a.post("/api/v1/federation-policies/", body, content_type="application/json"))
    assert "NaN" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"spread": {"min_groups": 99_999_999_999_999}, "strategy": "spread"}, "spread"),
        ({"spread": {"max_groups": 10**30}, "strategy": "spread"}, "spread"),
        (
            {"burst": {"tiers": ["cloud=aws"], "return_after_seconds": 1e300}, "strategy": "fill_then_burst"},
            "burst",
        ),
        ({"egress_weight": 1e300, "strategy": "cheapest"}, "egress_weight"),
    ],
)
def test_policy_numbers_out_of_range_are_a_400(api_a, body: dict, field: str) -> None:
    error = _api_error(api_a.post("/api/v1/federation-policies/", {"name": "p", **body}, format="json"))
    assert field in error["fields"]
    assert not FederationPolicy.objects.exists()


@pytest.mark.parametrize(("cpu", "memory"), [("99999999999999999", "1Gi"), ("1", "99999999Ti")])
def test_workload_requests_beyond_what_a_row_holds_are_a_400(api_a, cpu: str, memory: str) -> None:
    policy = {"name": "web", "strategy": "cheapest", "workload_selector": {"namespaces": ["shop"]}}
    assert api_a.post("/api/v1/federation-policies/", policy, format="json").status_code == 201
    manifest = deployment(cpu=cpu, memory=memory)
    error = _api_error(api_a.post("/api/v1/workloads/", {"manifest": manifest}, format="json"))
    assert "no machine has that much" in error["fields"]["manifest"][0]
    assert not Workload.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_vcpu", "99999999999"),
        ("max_nodes", "99999999999"),
        ("min_memory_gib", "99999999999.5"),
        ("max_cost_per_hour", "1e15"),
        ("spot_fallback_seconds", "99999999999"),
    ],
)
def test_provisioning_policy_numbers_beyond_their_columns_are_refused_on_the_page(
    owner_client, field: str, value: str
) -> None:
    form = {
        "objective": "cost",
        "capacity_types": ["on_demand", "spot"],
        "packing": "pack",
        "scale_down_delay_seconds": "60",
        "spot_fallback_seconds": "120",
        field: value,
    }
    response = owner_client.post("/policies/provisioning/", form)
    assert response.status_code in (200, 400) and field in response.context["form"].errors
    assert (
        not ProvisioningPolicy.objects.filter(**{f"{field}__isnull": False}).exclude(**{field: 120}).exists()
    )


@pytest.mark.parametrize(
    "window",
    [
        "9999-12-30,9999-12-31",
        "0001-01-01,0001-01-02",
        "0001-01-01T00:00:00-05:00,0001-01-02T00:00:00Z",
        "9999-12-31T23:30:00Z,9999-12-31T23:59:00Z",
    ],
)
def test_report_windows_at_the_ends_of_the_calendar_are_a_400(api_a, window: str) -> None:
    for report in ("savings", "spend", "utilization"):
        error = _api_error(api_a.get(f"/api/v1/reports/{report}/", {"window": window}))
        assert "window" in error["fields"]


def test_report_pages_explain_a_window_at_the_end_of_the_calendar(owner_client) -> None:
    response = owner_client.get("/reports/", {"window": "9999-12-30,9999-12-31"})
    assert response.status_code == 200 and b"outside the years" in response.content


@pytest.mark.parametrize(
    ("address", "parameter"),
    [
        ("/api/v1/placements/pods/?capacity_type=AAA", "capacity_type"),
        ("/api/v1/placements/pods/?cluster=", "cluster"),
        ("/api/v1/workloads/?policy=", "policy"),
        ("/api/v1/tokens/?page_size=0", "page_size"),
        ("/api/v1/tokens/?page_size=abc", "page_size"),
        ("/api/v1/tokens/?page_size=501", "page_size"),
        ("/api/v1/reports/savings/?aggregate=", "aggregate"),
        ("/api/v1/decisions/?page=", "page"),
        ("/api/v1/tokens/?page=last", "page"),
    ],
)
def test_list_filters_the_schema_refuses_are_a_400_naming_the_parameter(
    api_a, address: str, parameter: str
) -> None:
    assert parameter in _api_error(api_a.get(address))["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "p", "strategy": "cheapest", "pinned": [0]},
        {"name": 0, "strategy": "cheapest"},
        {"name": "p", "strategy": "cheapest", "stickiness": False},
        {"name": "p", "strategy": "cheapest", "burst": {"tiers": [[[None, None]]]}},
    ],
)
def test_values_of_the_wrong_json_type_are_a_400(api_a, body: dict) -> None:
    assert _api_error(api_a.post("/api/v1/federation-policies/", body, format="json"))["fields"]
    assert not FederationPolicy.objects.exists()


def test_a_manifest_that_is_neither_text_nor_objects_is_a_400(api_a) -> None:
    error = _api_error(api_a.post("/api/v1/workloads/", {"manifest": False}, format="json"))
    assert "YAML or JSON text" in error["fields"]["manifest"][0]
