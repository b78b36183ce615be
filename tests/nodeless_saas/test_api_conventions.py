"""One error body for every 4xx, pagination on every list, an OpenAPI schema at a stable URL."""

from __future__ import annotations

import pytest

from tests.conftest import token_client

pytestmark = pytest.mark.django_db


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    return body["error"]


def test_every_kind_of_4xx_has_the_same_body(cast, owner_client, viewer_client) -> None:
    assert _error(owner_client.post("/api/v1/tokens/", {}, content_type="application/json"), 400)["fields"]
    assert _error(token_client("nope").get("/api/v1/members/"), 401)["code"] == "authentication_failed"
    assert (
        _error(viewer_client.post("/api/v1/tokens/", {}, content_type="application/json"), 403)["code"]
        == "permission_denied"
    )
    assert (
        _error(owner_client.get("/api/v1/tokens/00000000-0000-0000-0000-000000000000/"), 404)["code"]
        == "not_found"
    )
    assert _error(owner_client.get("/api/v1/tokens/not-a-uuid/"), 404)["code"] == "not_found"
    assert _error(owner_client.delete("/api/v1/tokens/"), 405)["code"] == "method_not_allowed"
    assert _error(owner_client.get("/api/v1/does-not-exist/"), 404)["code"] == "not_found"
    assert (
        _error(owner_client.post("/api/v1/tokens/", "{", content_type="application/json"), 400)["code"]
        == "parse_error"
    )


def test_lists_are_paginated_with_a_page_size_parameter(cast, owner_client) -> None:
    for index in range(3):
        owner_client.post(
            "/api/v1/tokens/", {"name": f"t{index}", "scopes": ["read"]}, content_type="application/json"
        )
    page = owner_client.get("/api/v1/tokens/?page_size=2").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 4 and len(page["results"]) == 2 and "page=2" in page["next"]
    assert len(owner_client.get(page["next"]).json()["results"]) == 2


def test_the_openapi_schema_describes_every_endpoint_and_token_auth(client) -> None:
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/tokens/", "/api/v1/members/", "/api/v1/audit-events/", "/api/v1/invitations/"} <= set(
        schema["paths"]
    )
    assert schema["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    assert client.get("/api/v1/docs/").status_code == 200
