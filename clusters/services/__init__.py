"""Every write to cloud accounts and clusters goes through these functions: tenant services
(organization first, the rest by keyword) in `accounts` and `clusters`; the health check in `health`
(the health task's entry point is by cluster id); connecting and checks someone waits for, run by a
worker, in `checks`; every write to managed nodes through
`managed_nodes` (the provisioning loop's, by cluster or row)."""

from clusters.services.accounts import (
    cloud_account_connect,
    cloud_account_delete,
    cloud_account_update,
    cloud_account_verify,
    eks_clusters_discover,
)
from clusters.services.checks import (
    CHECK_SECONDS,
    cluster_check_request,
    cluster_check_run,
    cluster_check_timed_out,
)
from clusters.services.clusters import (
    cluster_connect_kubeconfig,
    cluster_delete,
    cluster_import_eks,
    cluster_replace_kubeconfig,
    cluster_update,
)
from clusters.services.health import cluster_check_health, cluster_check_health_by_id
from clusters.services.managed_nodes import (
    NodeLaunch,
    cluster_interruption_queue_found,
    managed_node_draining,
    managed_node_empty_since,
    managed_node_failed,
    managed_node_launch_requested,
    managed_node_launched,
    managed_node_plan_pods,
    managed_node_ready,
    managed_node_replacement_done,
    managed_node_terminated,
    managed_node_terminating,
    managed_nodes_launching,
)
from clusters.services.node_classes import node_class_of, node_class_update

__all__ = [
    "node_class_of",
    "node_class_update",
    "CHECK_SECONDS",
    "NodeLaunch",
    "cloud_account_connect",
    "cloud_account_delete",
    "cloud_account_update",
    "cloud_account_verify",
    "cluster_check_health",
    "cluster_check_health_by_id",
    "cluster_check_request",
    "cluster_check_run",
    "cluster_check_timed_out",
    "cluster_connect_kubeconfig",
    "cluster_delete",
    "cluster_interruption_queue_found",
    "cluster_import_eks",
    "cluster_replace_kubeconfig",
    "cluster_update",
    "eks_clusters_discover",
    "managed_node_draining",
    "managed_node_empty_since",
    "managed_node_failed",
    "managed_node_launch_requested",
    "managed_node_launched",
    "managed_node_plan_pods",
    "managed_node_ready",
    "managed_node_replacement_done",
    "managed_node_terminated",
    "managed_node_terminating",
    "managed_nodes_launching",
]
