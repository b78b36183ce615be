from __future__ import annotations

from django.urls import path

from billing import views, views_replay

urlpatterns = [
    path("", views.overview, name="overview"),
    path("reports/", views.reports, name="reports"),
    path("reports/csv/", views.reports_csv, name="reports-csv"),
    path("reports/focus.csv", views.reports_focus_csv, name="reports-focus-csv"),
    path("placement/", views.placement, name="placement"),
    path("placement/csv/", views.placement_csv, name="placement-csv"),
    path("rightsizing/", views.rightsizing, name="rightsizing"),
    path("rightsizing/csv/", views.rightsizing_csv, name="rightsizing-csv"),
    path("placement/decisions/<int:decision_id>/", views.decision_detail, name="decision-detail"),
    # Replaying a draft provisioning policy: started from the policy editor, under its URLs.
    path("policies/provisioning/replays/", views_replay.policy_replay_start, name="policy-replay-start"),
    path("policies/replays/<uuid:run_id>/", views_replay.policy_replay, name="policy-replay"),
    path(
        "policies/replays/<uuid:run_id>/panel/", views_replay.policy_replay_panel, name="policy-replay-panel"
    ),
    path(
        "policies/replays/<uuid:run_id>/progress/",
        views_replay.policy_replay_progress,
        name="policy-replay-progress",
    ),
]
