"""The site's front door: a public page that says what Nodeless is for visitors, the organization's
overview for people signed in, and a server-error page in the product's own style."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error


@pytest.mark.django_db
def test_a_visitor_sees_what_nodeless_is_and_where_to_sign_up_or_in() -> None:
    response = Client().get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nodes appear when pods need them" in page
    assert 'href="/signup/"' in page and 'href="/login/"' in page
    assert "Organization" not in page  # no shell, no organization switcher


@pytest.mark.django_db
def test_a_visitor_cannot_post_to_the_front_door() -> None:
    assert Client().post("/").status_code == 405


@pytest.mark.django_db
def test_signed_in_the_front_door_is_the_overview(owner_client) -> None:
    page = owner_client.get("/").content.decode()
    assert "Nodes appear when pods need them" not in page
    assert 'class="nav"' in page and "Overview" in page


@pytest.mark.django_db
def test_every_other_page_still_asks_a_visitor_to_sign_in() -> None:
    response = Client().get("/reports/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_server_error_page_is_styled_and_needs_no_database() -> None:
    response = server_error(RequestFactory().get("/clusters/"))
    page = response.content.decode()
    assert response.status_code == 500
    assert "/static/css/app.css" in page and "Something went wrong on our side" in page
