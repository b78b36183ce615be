"""In a real browser: a change the service refuses (here, demoting the last owner from a page that
still showed two) puts its reason on the page. htmx 2 swaps no 4xx response by default, so without
the project's responseHandling the refusal would vanish without a word."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tenants.models import Organization, OrganizationMember, Role, User
from tests.browser.journeys import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_refused_role_change_shows_why_in_the_members_table(live_server, page: Page) -> None:
    base = live_server.url
    sign_up(page, base)
    organization = Organization.objects.get(name="Browser Org")
    other = User.objects.create_user(email="sam@browser.example", password="another-long-passphrase")
    second_owner = OrganizationMember.objects.create(organization=organization, user=other, role=Role.OWNER)

    page.goto(f"{base}/settings/members/")
    role = page.get_by_label("Role of pat@browser.example")
    expect(role).to_be_visible()  # two owners: Pat's role may change
    second_owner.delete()  # meanwhile, in another tab, the other owner leaves
    role.select_option(Role.MEMBER.value)

    row = page.locator("tr", has_text="pat@browser.example")
    expect(row.locator(".errorlist")).to_contain_text("at least one owner")
    assert OrganizationMember.objects.get(
        organization=organization, user__email="pat@browser.example"
    ).role == (Role.OWNER)
