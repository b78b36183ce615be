from __future__ import annotations

from django.urls import path

from policies import views

urlpatterns = [
    path("policies/", views.policy_list, name="policies"),
    path("workloads/", views.workload_list, name="workloads"),
]
