from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect

from tenants.access import require_role
from tenants.middleware import request_role
from tenants.models import Role

View = Callable[..., HttpResponseBase]  # pages, downloads and streamed exports alike


def organization_view(
    *, read: Role = Role.VIEWER, write: Role = Role.MEMBER, doing: str = "change this"
) -> Callable[[View], View]:
    """A page of the current organization: signed-in members only; reads need `read`, writes `write`."""

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if getattr(request, "organization", None) is None:
                return redirect("organization-create")
            if request.method in ("GET", "HEAD", "OPTIONS"):
                require_role(request_role(request), read, doing="see this page")
            else:
                require_role(request_role(request), write, doing=doing)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
