from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.decorators import organization_view


@organization_view()
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/overview.html", {"section": "overview"})


@organization_view()
def reports(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/reports.html", {"section": "reports"})
