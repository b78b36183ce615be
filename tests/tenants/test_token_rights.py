"""A token never outlives its creator's rights: its scopes are capped by the creator's current role,
it goes when the creator leaves, it cannot give a token more scopes or more life than it has, and a
token minted by a token records the person behind it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tenants import services
from tenants.actors import Actor
from tenants.models import ApiToken, OrganizationMember, Role
from tests.conftest import make_user, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_token(cast):
    """Dana, an admin of org A, and an admin-scoped token she created."""
    dana = make_user("dana@a.example")
    membership = OrganizationMember.objects.create(organization=cast.org_a, user=dana, role=Role.ADMIN)
    token, plaintext = services.api_token_create(
        cast.org_a, actor=Actor(user=dana), name="dana's", scopes=["read", "write", "admin"]
    )
    return membership, token, plaintext


def _mint(client, **body) -> Any:
    return client.post("/api/v1/tokens/", {"name": "minted", "scopes": ["read"], **body}, format="json")


def test_a_demoted_creators_token_keeps_only_what_the_creator_may_still_do(cast, admin_token) -> None:
    membership, _, plaintext = admin_token
    client = token_client(plaintext)
    assert _mint(client).status_code == 201  # an admin's token may manage tokens
    services.member_change_role(cast.org_a, member=membership, actor=Actor(user=cast.alice), role=Role.VIEWER)
    refused = _mint(client)
    assert refused.status_code == 403
    assert "capped by its creator's current role" in refused.json()["error"]["message"]
    assert client.get("/api/v1/organization/").status_code == 200  # reading is what a viewer may do


def test_a_removed_creators_tokens_are_revoked_and_refused(cast, admin_token) -> None:
    membership, token, plaintext = admin_token
    services.member_remove(cast.org_a, member=membership, actor=Actor(user=cast.alice))
    token.refresh_from_db()
    assert token.revoked_at is not None
    response = token_client(plaintext).get("/api/v1/organization/")
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_a_token_of_a_creator_no_longer_in_the_organization_can_do_nothing(cast, admin_token) -> None:
    membership, _, plaintext = admin_token
    membership.delete()  # gone without the service (a database restore, a removal elsewhere)
    response = token_client(plaintext).get("/api/v1/organization/")
    assert response.status_code == 401 and "no longer a member" in response.json()["error"]["message"]


def test_a_token_cannot_mint_a_token_that_outlives_it_and_records_the_person_behind_it(cast) -> None:
    tomorrow = timezone.now() + timedelta(days=1)
    _, plaintext = services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="short", scopes=["admin"], expires_at=tomorrow
    )
    client = token_client(plaintext)
    forever = _mint(client)
    assert (
        forever.status_code == 400
        and "must expire no later" in forever.json()["error"]["fields"]["expires_at"][0]
    )
    later = _mint(client, expires_at=(tomorrow + timedelta(hours=1)).isoformat())
    assert later.status_code == 400
    sooner = _mint(client, expires_at=(tomorrow - timedelta(hours=1)).isoformat())
    assert sooner.status_code == 201 and sooner.json()["created_by"] == cast.alice.email
    assert ApiToken.objects.get(pk=sooner.json()["id"]).created_by == cast.alice


def test_a_token_without_a_creator_may_read_at_most(cast) -> None:
    token, plaintext = services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="legacy", scopes=["read", "write", "admin"]
    )
    ApiToken.objects.filter(pk=token.pk).update(
        created_by=None
    )  # minted by a token before creators were kept
    client = token_client(plaintext)
    assert client.get("/api/v1/organization/").status_code == 200
    assert _mint(client).status_code == 403
