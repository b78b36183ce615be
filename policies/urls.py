from __future__ import annotations

from django.urls import path

from policies import views

urlpatterns = [
    path("policies/", views.policy_list, name="policies"),
    path("policies/provisioning/", views.policy_default, name="policy-default"),
    path("policies/provisioning/validate/", views.policy_validate, name="policy-validate"),
    path("clusters/<uuid:cluster_id>/policy/", views.cluster_policy, name="cluster-policy"),
    path("clusters/<uuid:cluster_id>/policy/reset/", views.cluster_policy_reset, name="cluster-policy-reset"),
    path("workloads/", views.workload_list, name="workloads"),
]
