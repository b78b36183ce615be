from __future__ import annotations

from django.urls import path

from policies import views, views_federation

urlpatterns = [
    path("policies/", views.policy_list, name="policies"),
    path("policies/provisioning/", views.policy_default, name="policy-default"),
    path("policies/provisioning/validate/", views.policy_validate, name="policy-validate"),
    path("clusters/<uuid:cluster_id>/policy/", views.cluster_policy, name="cluster-policy"),
    path("clusters/<uuid:cluster_id>/policy/reset/", views.cluster_policy_reset, name="cluster-policy-reset"),
    path("clusters/<uuid:cluster_id>/decisions/", views.cluster_decisions, name="cluster-decisions"),
    path("workloads/", views_federation.workload_list, name="workloads"),
    path("workloads/new/", views_federation.workload_submit, name="workload-submit"),
    path("workloads/kubeconfig/", views_federation.workload_kubeconfig, name="workload-kubeconfig"),
    path("workloads/<uuid:workload_id>/", views_federation.workload_detail, name="workload-detail"),
    path("workloads/<uuid:workload_id>/pods/", views_federation.workload_pods, name="workload-pods"),
    path("workloads/<uuid:workload_id>/edit/", views_federation.workload_edit, name="workload-edit"),
    path("workloads/<uuid:workload_id>/scale/", views_federation.workload_scale, name="workload-scale"),
    path("workloads/<uuid:workload_id>/delete/", views_federation.workload_delete, name="workload-delete"),
    path("policies/federation/", views_federation.federation_policy_list, name="federation-policies"),
    path(
        "policies/federation/new/", views_federation.federation_policy_create, name="federation-policy-create"
    ),
    path(
        "policies/federation/validate/",
        views_federation.federation_policy_validate,
        name="federation-policy-validate",
    ),
    path(
        "policies/federation/<uuid:policy_id>/",
        views_federation.federation_policy_edit,
        name="federation-policy-edit",
    ),
    path(
        "policies/federation/<uuid:policy_id>/delete/",
        views_federation.federation_policy_delete,
        name="federation-policy-delete",
    ),
]
