"""The demo's owner: created on the first run, the same account with a fresh password on the next."""

from __future__ import annotations

import pytest
from django.test import Client

from lab.demo.seed import demo_owner
from tenants.models import OrganizationMember, Role

pytestmark = pytest.mark.django_db


def test_the_demo_owner_is_made_once_and_signs_in_with_the_password_printed_last() -> None:
    first = demo_owner()
    again = demo_owner()
    assert first.organization == again.organization and first.password != again.password
    (membership,) = OrganizationMember.objects.filter(user__email=again.email)
    assert membership.role == Role.OWNER
    assert Client().post("/login/", {"username": again.email, "password": first.password}).status_code == 200
    assert Client().post("/login/", {"username": again.email, "password": again.password}).status_code == 302
