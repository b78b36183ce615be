from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants.models import Role


def organization(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    role = membership.role_enum if membership is not None else None
    return {
        "current_organization": getattr(request, "organization", None),
        "current_membership": membership,
        "can_write": role is not None and role.at_least(Role.MEMBER),
        "can_admin": role is not None and role.at_least(Role.ADMIN),
        "is_owner": role is not None and role.at_least(Role.OWNER),
    }
