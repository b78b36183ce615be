"""Viewer reads; member edits policies and workloads; admin manages clusters, accounts and tokens;
owner manages members and the organization."""

from __future__ import annotations

import pytest

from tenants.models import OrganizationMember, Role
from tests.conftest import make_user, signed_in
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db


def _with_role(cast, role: Role):
    user = make_user(f"{role.value}@a.example")
    OrganizationMember.objects.create(organization=cast.org_a, user=user, role=role)
    return signed_in(user)


def test_a_viewer_reads_but_cannot_write(cast, viewer_client) -> None:
    assert viewer_client.get("/api/v1/members/").status_code == 200
    get_page(viewer_client, "/settings/tokens/", queries=5)
    response = viewer_client.post(
        "/api/v1/tokens/", {"name": "x", "scopes": ["read"]}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "your role here is viewer" in response.json()["error"]["message"]
    page = viewer_client.post("/settings/tokens/", {"name": "x", "scopes": ["read"], "expires_in": "30"})
    assert page.status_code == 403 and b"admins and owners" in page.content


@pytest.mark.parametrize(
    ("role", "tokens", "members", "organization"),
    [
        (Role.VIEWER, 403, 403, 403),
        (Role.MEMBER, 403, 403, 403),
        (Role.ADMIN, 201, 403, 403),
        (Role.OWNER, 201, 200, 200),
    ],
)
def test_each_role_can_do_exactly_what_it_should(cast, role, tokens, members, organization) -> None:
    client = _with_role(cast, role)
    assert (
        client.post(
            "/api/v1/tokens/", {"name": "t", "scopes": ["read"]}, content_type="application/json"
        ).status_code
        == tokens
    )
    assert (
        client.patch(
            f"/api/v1/members/{cast.victor_membership.pk}/",
            {"role": "member"},
            content_type="application/json",
        ).status_code
        == members
    )
    assert (
        client.patch(
            "/api/v1/organization/", {"name": "Renamed"}, content_type="application/json"
        ).status_code
        == organization
    )


def test_the_last_owner_cannot_be_demoted_or_removed(cast, owner_client) -> None:
    alice = OrganizationMember.objects.get(organization=cast.org_a, user=cast.alice)
    response = owner_client.patch(
        f"/api/v1/members/{alice.pk}/", {"role": "admin"}, content_type="application/json"
    )
    assert response.status_code == 400 and "at least one owner" in response.json()["error"]["message"]
    assert owner_client.delete(f"/api/v1/members/{alice.pk}/").status_code == 400
    assert OrganizationMember.objects.get(pk=alice.pk).role == Role.OWNER


def test_role_change_takes_effect_on_the_next_request(cast, owner_client, viewer_client) -> None:
    assert viewer_client.get("/api/v1/invitations/").status_code == 403
    owner_client.patch(
        f"/api/v1/members/{cast.victor_membership.pk}/", {"role": "admin"}, content_type="application/json"
    )
    assert viewer_client.get("/api/v1/invitations/").status_code == 200


def test_a_removed_member_loses_access_at_once(cast, owner_client, viewer_client) -> None:
    assert owner_client.delete(f"/api/v1/members/{cast.victor_membership.pk}/").status_code == 204
    response = viewer_client.get("/api/v1/members/")
    assert (
        response.status_code == 403
        and "not a member of any organization" in response.json()["error"]["message"]
    )
    assert viewer_client.get("/").url == "/organizations/new/"
