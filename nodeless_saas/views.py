from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_safe

from billing.views import overview
from tenants.api.errors import api_not_found


def home(request: HttpRequest) -> HttpResponseBase:
    """The site's front door: the organization's overview when signed in (which answers other methods
    by role), else what Nodeless is."""
    if request.user.is_authenticated:
        return overview(request)
    return _landing(request)


@require_safe
def _landing(request: HttpRequest) -> HttpResponse:
    return render(request, "landing.html")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness + database check for load balancers and docker-compose."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_not_found(request, exception)
    return render(request, "404.html", status=404)
