"""The UI shell: navigation, our own static files, security headers, CSRF with htmx, empty states."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tenants import services
from tenants.actors import Actor
from tests.conftest import signed_in
from tests.fixtures.pages import get_page, page_queries

pytestmark = pytest.mark.django_db


def test_every_page_has_the_navigation_and_serves_htmx_from_our_static_files(owner_client) -> None:
    page = get_page(owner_client, "/", queries=16).content.decode()
    for label in ("Overview", "Clusters", "Policies", "Workloads", "Reports", "Settings"):
        assert f">{label}</a>" in page
    script = re.search(r'src="(/static/vendor/htmx[^"]+)"', page)
    assert script is not None
    assert owner_client.get(script.group(1)).status_code == 200
    assert "http://" not in re.sub(r'href="http://127\.0\.0\.1[^"]*"', "", page).split("<body", 1)[0]


def test_security_headers_are_set(owner_client) -> None:
    response = get_page(owner_client, "/", queries=16)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "queries"),
    [("/", 16), ("/clusters/", 9), ("/policies/", 9), ("/workloads/", 9), ("/reports/", 12)],
)
def test_empty_pages_say_what_to_do_next(owner_client, path, queries) -> None:
    page = get_page(owner_client, path, queries=queries).content.decode()
    empty_state = re.search(r'<div class="[^"]*\bempty\b[^"]*">(.*?)</div>', page, re.DOTALL)
    assert empty_state is not None, f"{path} has no empty state"
    assert 'class="btn' in empty_state.group(1) or "<code>" in empty_state.group(1)


def test_htmx_requests_carry_the_csrf_token_and_are_refused_without_it(cast) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.alice, backend="django.contrib.auth.backends.ModelBackend")
    page = get_page(client, "/settings/tokens/", queries=8).content.decode()
    match = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page)
    assert match is not None
    token = match.group(1)
    url = f"/settings/tokens/{cast.token_a.pk}/revoke/"
    assert client.post(url, HTTP_HX_REQUEST="true").status_code == 403
    response = client.post(url, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and b"revoked" in response.content and b"<html" not in response.content


def test_signed_out_visitors_are_sent_to_sign_in() -> None:
    response = Client().get("/clusters/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_user_without_an_organization_is_asked_to_create_one(cast, owner_client) -> None:
    from tenants.models import OrganizationMember

    OrganizationMember.objects.filter(user=cast.victor).delete()
    client = signed_in(cast.victor)
    response = get_page(client, "/", follow=True, queries=6)
    assert b"not a member of any organization" in response.content


def test_the_organization_switcher_runs_as_many_queries_for_five_organizations_as_for_one(
    cast, owner_client
) -> None:
    one = page_queries(owner_client, "/settings/")
    for index in range(4):
        services.organization_create(owner=cast.alice, name=f"Org A{index}", actor=Actor(user=cast.alice))
    assert page_queries(owner_client, "/settings/") == one
