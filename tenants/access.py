"""The one way views fetch tenant-owned objects.

`get_for_organization` answers 404 both for objects that do not exist and for objects of another
organization, so an outsider cannot even learn that an id exists. Role checks raise PermissionDenied
with a message that says which role is needed.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import models
from django.http import Http404

from tenants.models import Organization, Role

ModelT = TypeVar("ModelT", bound=models.Model)

_ROLE_PHRASES = {
    Role.VIEWER: "any member",
    Role.MEMBER: "members, admins and owners",
    Role.ADMIN: "admins and owners",
    Role.OWNER: "owners",
}


def get_for_organization(
    organization: Organization | None,
    model_or_queryset: type[ModelT] | models.QuerySet[ModelT],
    pk: Any,
) -> ModelT:
    if organization is None:
        raise Http404("No such object")
    queryset = (
        model_or_queryset
        if isinstance(model_or_queryset, models.QuerySet)
        else model_or_queryset._default_manager.all()
    )
    pk_field = queryset.model._meta.pk
    if isinstance(pk_field, models.UUIDField):
        try:
            pk = uuid.UUID(str(pk))
        except ValueError:
            raise Http404("No such object")
    try:
        return queryset.get(organization=organization, pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise Http404("No such object")


def require_role(role: Role | None, needed: Role, *, doing: str) -> None:
    """Raise PermissionDenied unless `role` is at least `needed`; the message names who may do it."""
    if role is None or not role.at_least(needed):
        current = role.label.lower() if role is not None else "none"
        raise PermissionDenied(f"Only {_ROLE_PHRASES[needed]} can {doing}; your role here is {current}.")
