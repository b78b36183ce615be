"""An outsider (the owner of org B) gets 404 for every org A object, on every route, by session and by token."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from tests.conftest import signed_in, token_client
from tests.tenants.cross_tenant_routes import (
    OBJECT_ROUTES,
    PUBLIC_ROUTES,
    OrgAObjects,
    all_routes,
    object_routes,
)

METHODS = ("get", "post", "patch", "put", "delete")


def test_every_route_that_takes_an_id_has_an_outsider_check() -> None:
    missing = [r.name for r in object_routes() if r.name not in OBJECT_ROUTES and r.name not in PUBLIC_ROUTES]
    assert not missing, f"add these routes to tests/tenants/cross_tenant_routes.py OBJECT_ROUTES: {missing}"
    stale = sorted(set(OBJECT_ROUTES) - {r.name for r in object_routes()})
    assert not stale, f"OBJECT_ROUTES names routes that no longer exist: {stale}"


def _call(client, method: str, url: str):
    if method == "get":
        return client.get(url)
    return getattr(client, method)(url, data=json.dumps({}), content_type="application/json")


def _nonexistent(kwargs: dict) -> dict:
    return {key: (uuid.uuid4() if isinstance(value, uuid.UUID) else 10**12) for key, value in kwargs.items()}


@pytest.mark.parametrize("route_name", sorted(OBJECT_ROUTES))
def test_outsider_gets_404_for_org_a_objects(cast, route_name: str) -> None:
    """For every method, org A's object looks exactly like an object that does not exist, and at
    least one method answers 404. (405, or a 403 for a role the caller lacks, is decided before the
    object is looked up, so it is the same for both and leaks nothing.)"""
    kwargs = OBJECT_ROUTES[route_name](OrgAObjects(cast))
    url = reverse(route_name, kwargs=kwargs)
    missing_url = reverse(route_name, kwargs=_nonexistent(kwargs))
    is_api = url.startswith("/api/")
    outsiders = [signed_in(cast.oscar)] + ([token_client(cast.token_b_plaintext)] if is_api else [])
    for index, client in enumerate(outsiders):
        statuses = {method: _call(client, method, url).status_code for method in METHODS}
        missing = {method: _call(client, method, missing_url).status_code for method in METHODS}
        assert statuses == missing, f"{route_name}: org A's object {statuses} vs a missing one {missing}"
        if index == 0:  # the session outsider owns org B, so no role check stands before the lookup
            assert 404 in statuses.values(), f"{route_name} {url}: {statuses}"


@pytest.mark.parametrize("route_name", sorted(OBJECT_ROUTES))
def test_the_owner_reaches_the_same_objects(cast, route_name: str) -> None:
    """The outsider test above is only meaningful if the ids point at real, reachable objects."""
    url = reverse(route_name, kwargs=OBJECT_ROUTES[route_name](OrgAObjects(cast)))
    client = signed_in(cast.alice)
    statuses = {method: _call(client, method, url).status_code for method in ("get", "post")}
    assert any(code not in (404, 405) for code in statuses.values()), f"{route_name}: {statuses}"


def test_lists_and_pages_never_show_another_organizations_rows(cast) -> None:
    objects = OrgAObjects(cast)
    secrets_of_a = {
        str(cast.victor_membership.pk),
        str(cast.token_a.pk),
        str(objects.invitation().pk),
        cast.victor.email,
        cast.alice.email,
        cast.org_a.external_id,
        cast.token_a.name,
    }
    clients = {"session": signed_in(cast.oscar), "token": token_client(cast.token_b_plaintext)}
    checked = 0
    for route in all_routes():
        if route.parameters or route.name in {"logout", "healthz"}:
            continue
        try:
            url = reverse(route.name)
        except Exception:
            continue
        for kind, client in clients.items():
            if kind == "token" and not url.startswith("/api/"):
                continue
            response = client.get(url)
            # getvalue(), not content: a streamed download (the FOCUS export) has no `content`.
            body = response.getvalue().decode(errors="replace")
            leaked = [value for value in secrets_of_a if value in body]
            assert not leaked, f"{url} ({kind}) shows org A data: {leaked}"
            checked += 1
    assert checked >= 10
