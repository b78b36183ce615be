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


# Prefix of the organization's columns in ``api_token_by_hash``'s row (no token field starts so).
_ORGANIZATION = "organization__"


@functools.cache
def _token_statement() -> str:
    """``api_token_by_hash``'s statement, from the models' tables and columns."""
    token, member, organization = ApiToken._meta, OrganizationMember._meta, Organization._meta

    def column(meta: Any, name: str) -> str:
        return str(meta.get_field(name).column)

    organization_columns = ", ".join(
        f"o.{field.column} AS {_ORGANIZATION}{field.column}" for field in organization.concrete_fields
    )
    return (
        f"SELECT t.*, m.{column(member, 'role')} AS creator_role, {organization_columns} "
        f"FROM {token.db_table} t "
        f"JOIN {organization.db_table} o ON o.{organization.pk.column} = t.{column(token, 'organization')} "
        f"LEFT JOIN {member.db_table} m ON m.{column(member, 'organization')} = t.{column(token, 'organization')} "
        f"AND m.{column(member, 'user')} = t.{column(token, 'created_by')} "
        f"WHERE t.{column(token, 'token_hash')} = %s"
    )


def _organization_of(row: ApiToken) -> Organization:
    """The organization whose columns came with the token's row, as the ORM would load it."""
    fields = Organization._meta.concrete_fields
    connection = connections[ApiToken.objects.db]
    values = []
    for field in fields:
        value = getattr(row, f"{_ORGANIZATION}{field.column}")
        delattr(row, f"{_ORGANIZATION}{field.column}")
        column = field.get_col(Organization._meta.db_table)
        for convert in [*connection.ops.get_db_converters(column), *field.get_db_converters(connection)]:
            value = convert(value, column, connection)
        values.append(value)
    return Organization.from_db(connection.alias, [field.attname for field in fields], values)


def api_token_by_hash(token_hash: str) -> tuple[ApiToken, Role | None] | None:
    """The token with this hash (its organization loaded) and the current role in the token's
    organization of the person who created it (None: not a member, or no creator).

    Every API request reads this, so it is one plain statement: built by the ORM, the same read
    (joins, a subquery) costs three times the CPU, spent compiling the same SQL again."""
    found = list(ApiToken.objects.raw(_token_statement(), [token_hash]))
    if not found:
        return None
    token = found[0]
    token.organization = _organization_of(token)
    role = token.creator_role  # type: ignore[attr-defined]
    return token, None if role is None else Role(role)
