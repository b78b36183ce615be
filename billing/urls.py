from __future__ import annotations

from django.urls import path

from billing import views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("reports/", views.reports, name="reports"),
    path("reports/csv/", views.reports_csv, name="reports-csv"),
    path("reports/focus.csv", views.reports_focus_csv, name="reports-focus-csv"),
    path("placement/", views.placement, name="placement"),
    path("placement/csv/", views.placement_csv, name="placement-csv"),
    path("placement/decisions/<int:decision_id>/", views.decision_detail, name="decision-detail"),
]
