"""The settings lists (members, invitations, API tokens, audit log) run as many SQL queries for twenty
rows as for one: no row costs a query of its own."""

from __future__ import annotations

import pytest

from tenants import services
from tenants.actors import Actor
from tenants.models import OrganizationMember, Role
from tests.conftest import make_user
from tests.fixtures.pages import page_queries

pytestmark = pytest.mark.django_db


def _rows(cast, first: int, last: int) -> None:
    """Rows first..last-1 of each list: a member, an invitation and an API token (each audited)."""
    actor = Actor(user=cast.alice)
    for index in range(first, last):
        user = make_user(f"member-{index}@a.example")
        OrganizationMember.objects.create(organization=cast.org_a, user=user, role=Role.MEMBER)
        services.invitation_create(cast.org_a, actor=actor, email=f"invited-{index}@a.example", role="member")
        services.api_token_create(cast.org_a, actor=actor, name=f"token {index}", scopes=["read"])


@pytest.mark.parametrize("url", ["/settings/members/", "/settings/tokens/", "/settings/audit/"])
def test_a_settings_list_runs_as_many_queries_for_twenty_rows_as_for_one(cast, owner_client, url) -> None:
    _rows(cast, 0, 1)
    one = page_queries(owner_client, url)
    _rows(cast, 1, 20)
    assert page_queries(owner_client, url) == one
