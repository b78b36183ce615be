from __future__ import annotations

from csp.decorators import csp_update
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from nodeless_saas import views

api_v1: list[URLPattern | URLResolver] = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api-schema"),
    path(
        "docs/",
        # Swagger UI's page carries one inline <style>; allow that on this page only.
        csp_update({"style-src": ["'self'", "'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[AllowAny])
        ),
        name="api-docs",
    ),
    path("", include("tenants.api.urls")),
    path("", include("clusters.api.urls")),
    path("", include("policies.api.urls")),
    path("", include("billing.api.urls")),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
    # The organization's Kubernetes API (kubectl, client libraries, GitOps tools): API tokens only.
    path("k8s/", include("policies.kubeapi.urls")),
    path("", views.home, name="home"),  # before billing's overview, which answers "/" signed in
    path("", include("tenants.urls")),
    path("", include("billing.urls")),
    path("", include("clusters.urls")),
    path("", include("policies.urls")),
]

handler404 = "nodeless_saas.views.not_found"
