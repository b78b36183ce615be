"""Settings → Members offers only what the service allows: no removing or demoting the last owner
(the service still refuses both when asked directly)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tenants.models import OrganizationMember, Role
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db


def _row(html: str, member: OrganizationMember) -> str:
    match = re.search(rf'<tr id="member-{member.pk}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {member.user.email}"
    return match.group(1)


def _offers(html: str, member: OrganizationMember) -> tuple[bool, bool]:
    """(role can be changed, member can be removed) as the row shows it."""
    row = _row(html, member)
    return (
        reverse("settings-member-role", args=[member.pk]) in row,
        reverse("settings-member-remove", args=[member.pk]) in row,
    )


@pytest.fixture
def alice(cast) -> OrganizationMember:
    return OrganizationMember.objects.get(organization=cast.org_a, user=cast.alice)


def test_the_sole_owner_is_offered_neither_remove_nor_a_role_change_and_both_are_still_refused(
    cast, alice, owner_client
) -> None:
    html = get_page(owner_client, reverse("settings-members"), queries=9).content.decode()
    assert _offers(html, alice) == (False, False)
    assert "The only owner" in _row(html, alice)
    assert _offers(html, cast.victor_membership) == (True, True)
    # A stale page or a hand-made request meets the service's refusal.
    removed = owner_client.post(reverse("settings-member-remove", args=[alice.pk]), follow=True)
    assert "at least one owner" in removed.content.decode()
    demoted = owner_client.post(
        reverse("settings-member-role", args=[alice.pk]), {"role": Role.ADMIN}, HTTP_HX_REQUEST="true"
    )
    assert demoted.status_code == 400 and "at least one owner" in _row(demoted.content.decode(), alice)
    assert OrganizationMember.objects.get(pk=alice.pk).role == Role.OWNER


def test_a_second_owner_makes_both_owners_removable_in_the_rows_returned(cast, alice, owner_client) -> None:
    response = owner_client.post(
        reverse("settings-member-role", args=[cast.victor_membership.pk]),
        {"role": Role.OWNER},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert _offers(html, alice) == _offers(html, cast.victor_membership) == (True, True)
    page = get_page(owner_client, reverse("settings-members"), queries=6).content.decode()
    assert _offers(page, alice) == (True, True)


def test_an_owner_who_steps_down_is_offered_no_more_owner_actions(cast, alice, owner_client) -> None:
    victor = cast.victor_membership
    owner_client.post(
        reverse("settings-member-role", args=[victor.pk]), {"role": Role.OWNER}, HTTP_HX_REQUEST="true"
    )
    stepped_down = owner_client.post(
        reverse("settings-member-role", args=[alice.pk]), {"role": Role.ADMIN}, HTTP_HX_REQUEST="true"
    )
    assert stepped_down.status_code == 200
    assert OrganizationMember.objects.get(pk=alice.pk).role == Role.ADMIN
    html = stepped_down.content.decode()
    # alice is an admin now: every owner action would be refused, so none is offered
    assert _offers(html, alice) == _offers(html, victor) == (False, False)
