"""The base class for every tenant-owned API endpoint.

Subclasses say which rows they serve with `scoped_queryset(organization)` (a selector call) and
cannot override `get_queryset`/`get_object`: the organization always comes from the authenticated
request (the token's organization, or the session's current one), and a row of another
organization is a 404 exactly like a row that does not exist.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, cast

from django.db.models import Model, QuerySet
from rest_framework import exceptions, viewsets
from rest_framework.response import Response

from tenants.access import get_for_organization
from tenants.actors import Actor
from tenants.models import Organization, Role

ModelT = TypeVar("ModelT", bound=Model)


class OrganizationScopedViewSet(viewsets.GenericViewSet, Generic[ModelT]):  # type: ignore[type-arg]
    read_role: ClassVar[Role] = Role.VIEWER
    write_role: ClassVar[Role] = Role.MEMBER
    action_roles: ClassVar[dict[str, Role]] = {}
    permission_phrase: ClassVar[str] = "do this"

    _protected = ("get_queryset", "get_object", "get_permissions", "get_authenticators")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls._protected:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__}.{name} must not be overridden: implement scoped_queryset(organization) "
                    "so rows stay scoped to the request's organization."
                )

    @property
    def organization(self) -> Organization:
        return self.request.organization  # type: ignore[attr-defined, no-any-return]

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    def scoped_queryset(self, organization: Organization) -> QuerySet[ModelT]:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[ModelT]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no organization
            return cast("QuerySet[ModelT]", type(self).queryset).none()
        return self.scoped_queryset(self.organization)

    def get_object(self) -> ModelT:
        obj = get_for_organization(
            self.organization, self.get_queryset(), self.kwargs[self.lookup_url_kwarg or "pk"]
        )
        self.check_object_permissions(self.request, obj)
        return obj

    def sent_version(self) -> int | None:
        """The version the client edits, from ``If-Match: "7"`` (the ETag it read), or None when it
        sent none or ``*``: then the change applies to whatever is current."""
        header = self.request.headers.get("If-Match", "").strip()
        if header in ("", "*"):
            return None
        value = header.removeprefix("W/").strip('"')
        if not value.isdigit() or len(value) > 9:
            raise exceptions.ValidationError(
                {"If-Match": 'Send the ETag you read from this object, e.g. If-Match: "7".'}
            )
        return int(value)


def with_version(response: Response, version: int) -> Response:
    """The object's version as its ETag, for the client's next ``If-Match``."""
    response["ETag"] = f'"{version}"'
    return response
