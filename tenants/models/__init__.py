"""Accounts and tenants: users (e-mail login), organizations, memberships, invitations, API tokens,
audit events. Every tenant-owned row elsewhere carries an `organization` foreign key to Organization."""

from __future__ import annotations

from tenants.models.accounts import Organization, OrganizationMember, Role, User
from tenants.models.security import ApiToken, AuditEvent, Invitation

__all__ = ["ApiToken", "AuditEvent", "Invitation", "Organization", "OrganizationMember", "Role", "User"]
