"""The demo organization `make demo` seeds: an owner account, and (as the product grows) connected
simulated clusters, policies and a replayed trace so every page has live data."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from tenants import services
from tenants.actors import Actor
from tenants.models import Organization, OrganizationMember, Role, User

DEMO_EMAIL = "demo@nodeless.local"
DEMO_ORGANIZATION = "Acme Platform"


@dataclass(frozen=True)
class DemoCredentials:
    email: str
    password: str
    organization: Organization


@transaction.atomic
def demo_seed() -> DemoCredentials:
    """Idempotent: reuses the demo owner and organization, and sets a fresh password each run."""
    password = secrets.token_urlsafe(12)
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is None:
        user, organization = services.signup(
            email=DEMO_EMAIL, password=password, full_name="Demo Owner", organization_name=DEMO_ORGANIZATION
        )
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
        membership = (
            OrganizationMember.objects.filter(user=user, role=Role.OWNER)
            .select_related("organization")
            .first()
        )
        if membership is None:
            organization = services.organization_create(
                owner=user, name=DEMO_ORGANIZATION, actor=Actor.system("demo seed")
            )
        else:
            organization = membership.organization
    return DemoCredentials(email=DEMO_EMAIL, password=password, organization=organization)
