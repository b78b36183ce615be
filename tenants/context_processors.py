from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants.models import Role
from tenants.selectors import organizations_for_user


def organization(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    role = membership.role_enum if membership is not None else None
    user: Any = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "current_organization": getattr(request, "organization", None),
        "current_membership": membership,
        # The organization switcher's options, with their organizations in the same query (lazy: only
        # pages that show the switcher run it).
        "organization_choices": organizations_for_user(user) if signed_in else [],
        "can_write": role is not None and role.at_least(Role.MEMBER),
        "can_admin": role is not None and role.at_least(Role.ADMIN),
        "is_owner": role is not None and role.at_least(Role.OWNER),
    }
