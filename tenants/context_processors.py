from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants.models import Role, User
from tenants.selectors import organizations_for_user


def organization(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    role = membership.role_enum if membership is not None else None
    user = getattr(request, "user", None)
    # The organization switcher's options, with their organizations in the same query (lazy: only
    # pages that show the switcher run it). An API token's stand-in user is in no organization list.
    choices = organizations_for_user(user) if isinstance(user, User) and user.is_authenticated else []
    return {
        "current_organization": getattr(request, "organization", None),
        "current_membership": membership,
        "organization_choices": choices,
        "can_write": role is not None and role.at_least(Role.MEMBER),
        "can_admin": role is not None and role.at_least(Role.ADMIN),
        "is_owner": role is not None and role.at_least(Role.OWNER),
    }
