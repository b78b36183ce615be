"""Reads of accounts and tenants, organization first."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from tenants.models import ApiToken, AuditEvent, Invitation, Organization, OrganizationMember, Role, User


def organizations_for_user(user: User) -> QuerySet[OrganizationMember]:
    return user.memberships.select_related("organization").order_by("organization__name")


def member_list(organization: Organization) -> QuerySet[OrganizationMember]:
    return organization.memberships.select_related("user").order_by("user__email")


def invitation_list(organization: Organization) -> QuerySet[Invitation]:
    return organization.invitations.select_related("invited_by").order_by("-created_at")


def api_token_list(organization: Organization) -> QuerySet[ApiToken]:
    return organization.api_tokens.select_related("created_by").order_by("revoked_at", "-created_at")


def audit_event_list(
    organization: Organization,
    *,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
) -> QuerySet[AuditEvent]:
    events = organization.audit_events.all()
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if since:
        events = events.filter(created_at__gte=since)
    return events.order_by("-created_at", "-id")


def creator_role(token: ApiToken) -> Role | None:
    """The current role in the token's organization of the person who created it (None: not a member)."""
    if token.created_by_id is None:
        return None
    role = (
        OrganizationMember.objects.filter(organization_id=token.organization_id, user_id=token.created_by_id)
        .values_list("role", flat=True)
        .first()
    )
    return None if role is None else Role(role)
