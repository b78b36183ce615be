"""Resolves the organization a signed-in user is working in for this request.

The current organization lives in the session and is re-validated against the user's memberships on
every request, so removing a member takes effect at once. API tokens carry their own organization;
DRF's authentication sets it for token requests (see tenants.api.base).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from tenants.api.errors import error_body
from tenants.models import Organization, OrganizationMember, Role

SESSION_KEY = "organization_id"


class CurrentOrganizationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organization, request.membership = current_membership(request)  # type: ignore[attr-defined]
        return self.get_response(request)


def current_membership(request: HttpRequest) -> tuple[Organization | None, OrganizationMember | None]:
    user: Any = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None, None
    memberships = OrganizationMember.objects.select_related("organization").filter(user=user)
    wanted = request.session.get(SESSION_KEY)
    membership = memberships.filter(organization_id=wanted).first() if wanted else None
    if membership is None:
        membership = memberships.order_by("created_at").first()
        if membership is None:
            request.session.pop(SESSION_KEY, None)
            return None, None
        request.session[SESSION_KEY] = str(membership.organization_id)
    return membership.organization, membership


def request_role(request: HttpRequest) -> Role | None:
    membership = getattr(request, "membership", None)
    return membership.role_enum if membership is not None else None


NUL_MESSAGE = "The address contains a NUL character (%00), which no filter or name can hold."


class RefuseNulMiddleware:
    """A NUL character in the path or the query string is a 400 for every page and endpoint.

    PostgreSQL refuses NUL in text, so a filter holding one would otherwise reach the database and
    fail there (a 500). Forms refuse NUL themselves (Django's CharField) and API bodies in their
    parser (tenants.api.parsers); the address is the one input every view shares.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()
        ):
            if request.path_info.startswith("/api/"):
                return JsonResponse(error_body(400, NUL_MESSAGE), status=400)
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
