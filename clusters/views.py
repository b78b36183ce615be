from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.decorators import organization_view


@organization_view()
def cluster_list(request: HttpRequest) -> HttpResponse:
    return render(request, "clusters/cluster_list.html", {"section": "clusters"})
