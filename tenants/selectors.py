"""Reads of accounts and tenants, organization first."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from django.db import connections
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


@functools.cache
def _token_statements() -> tuple[str, str]:
    """The two statements of ``api_token_by_hash``, from the models' tables and columns."""
    token, member, organization = ApiToken._meta, OrganizationMember._meta, Organization._meta

    def column(meta: Any, name: str) -> str:
        return str(meta.get_field(name).column)

    by_hash = (
        f"SELECT t.*, m.{column(member, 'role')} AS creator_role FROM {token.db_table} t "
        f"LEFT JOIN {member.db_table} m ON m.{column(member, 'organization')} = t.{column(token, 'organization')} "
        f"AND m.{column(member, 'user')} = t.{column(token, 'created_by')} "
        f"WHERE t.{column(token, 'token_hash')} = %s"
    )
    by_id = f"SELECT * FROM {organization.db_table} WHERE {organization.pk.column} = %s"
    return by_hash, by_id


def api_token_by_hash(token_hash: str) -> tuple[ApiToken, Role | None] | None:
    """The token with this hash (its organization loaded) and the current role in the token's
    organization of the person who created it (None: not a member, or no creator).

    Every API request reads this, so it is two plain statements: built by the ORM, the same
    reads (a join, a subquery) cost three times the CPU, spent compiling the same SQL again."""
    found = list(ApiToken.objects.raw(_token_statements()[0], [token_hash]))
    if not found:
        return None
    token = found[0]
    key = Organization._meta.pk.get_db_prep_value(token.organization_id, connections[ApiToken.objects.db])
    token.organization = list(Organization.objects.raw(_token_statements()[1], [key]))[0]
    role = token.creator_role  # type: ignore[attr-defined]
    return token, None if role is None else Role(role)
