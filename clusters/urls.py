from __future__ import annotations

from django.urls import path

from clusters import views

urlpatterns = [
    path("clusters/", views.cluster_list, name="clusters"),
    path("clusters/connect/aws/", views.connect_aws, name="connect-aws"),
    path(
        "clusters/connect/aws/nodeless-role.yaml",
        views.cloudformation_template,
        name="cloudformation-template",
    ),
    path("clusters/connect/kubeconfig/", views.connect_kubeconfig, name="connect-kubeconfig"),
    path("clusters/<uuid:cluster_id>/", views.cluster_detail, name="cluster-detail"),
    path("clusters/<uuid:cluster_id>/check/", views.cluster_check, name="cluster-check"),
    path("clusters/<uuid:cluster_id>/status/", views.cluster_status, name="cluster-status"),
    path("clusters/<uuid:cluster_id>/activity/", views.cluster_activity, name="cluster-activity"),
    path("clusters/<uuid:cluster_id>/delete/", views.cluster_delete, name="cluster-delete"),
    path("clusters/<uuid:cluster_id>/node-class/", views.cluster_node_class, name="cluster-node-class"),
    path(
        "cloud-accounts/<uuid:account_id>/clusters/",
        views.cloud_account_discover,
        name="cloud-account-discover",
    ),
    path("cloud-accounts/<uuid:account_id>/import/", views.cloud_account_import, name="cloud-account-import"),
    path("settings/cloud-accounts/", views.cloud_account_list, name="settings-cloud-accounts"),
    path(
        "settings/cloud-accounts/<uuid:account_id>/verify/",
        views.cloud_account_verify,
        name="cloud-account-verify",
    ),
    path(
        "settings/cloud-accounts/<uuid:account_id>/delete/",
        views.cloud_account_delete,
        name="cloud-account-delete",
    ),
]
