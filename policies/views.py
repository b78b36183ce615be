from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.decorators import organization_view


@organization_view()
def policy_list(request: HttpRequest) -> HttpResponse:
    return render(request, "policies/policy_list.html", {"section": "policies"})


@organization_view()
def workload_list(request: HttpRequest) -> HttpResponse:
    return render(request, "policies/workload_list.html", {"section": "workloads"})
