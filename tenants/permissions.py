"""Who may call which API method: the member's role, or the token's scopes.

Role → scope mapping for tokens: reading needs `read`; what a member may change (policies,
workloads) needs `write`; what an admin may change (clusters, cloud accounts, tokens) needs `admin`.
Owner-only actions (members, the organization itself) are never open to tokens.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from tenants.access import require_role
from tenants.models import ApiToken, Organization, Role

_SCOPE_FOR_ROLE = {Role.VIEWER: "read", Role.MEMBER: "write", Role.ADMIN: "admin"}


def resolve_organization(request: Request) -> tuple[Organization | None, Role | None]:
    """The organization and effective role of an authenticated API request."""
    if isinstance(request.auth, ApiToken):
        return request.auth.organization, None
    django_request = request._request
    membership = getattr(django_request, "membership", None)
    if membership is None:
        return None, None
    return membership.organization, membership.role_enum


def needed_role(request: Request, view: Any) -> Role:
    action_roles: dict[str, Role] = getattr(view, "action_roles", {})
    action = getattr(view, "action", None)
    if action in action_roles:
        return action_roles[action]
    if request.method in SAFE_METHODS:
        return getattr(view, "read_role", Role.VIEWER)
    return getattr(view, "write_role", Role.MEMBER)


class OrganizationRolePermission(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            raise NotAuthenticated("Sign in, or send 'Authorization: Bearer nls_…' with an API token.")
        organization, role = resolve_organization(request)
        if organization is None:
            raise PermissionDenied(
                "You are not a member of any organization; create one or accept an invitation."
            )
        request.organization = organization  # type: ignore[attr-defined]
        needed = needed_role(request, view)
        doing = getattr(view, "permission_phrase", "do this")
        if isinstance(request.auth, ApiToken):
            scope = _SCOPE_FOR_ROLE.get(needed)
            if scope is None:
                raise PermissionDenied(f"API tokens cannot {doing}; sign in as an owner in the browser.")
            if not request.auth.has_scope(scope):
                usable = getattr(request.auth, "granted", request.auth.scopes)
                capped = " (capped by its creator's current role)" if usable != request.auth.scopes else ""
                raise PermissionDenied(
                    f"This token lacks the '{scope}' scope needed to {doing}; the scopes it may use are "
                    f"{', '.join(usable) or 'none'}{capped}."
                )
            return True
        try:
            require_role(role, needed, doing=doing)
        except Exception as error:
            raise PermissionDenied(str(error))
        return True
