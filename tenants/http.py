"""Request types for views, so the attributes our middleware adds are typed."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from tenants.models import Organization, OrganizationMember, User


class SignedInRequest(HttpRequest):
    user: User
    organization: Organization | None
    membership: OrganizationMember | None
    htmx: HtmxDetails


class OrganizationRequest(SignedInRequest):
    """A request that `organization_view` let through: signed in, with a current organization."""

    organization: Organization
    membership: OrganizationMember
