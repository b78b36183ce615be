"""Every write to cloud accounts and clusters goes through these functions (organization first)."""

from clusters.services.accounts import (
    cloud_account_connect,
    cloud_account_delete,
    cloud_account_update,
    cloud_account_verify,
    eks_clusters_discover,
)
from clusters.services.clusters import (
    cluster_check_health,
    cluster_check_health_by_id,
    cluster_check_health_now,
    cluster_connect_kubeconfig,
    cluster_delete,
    cluster_import_eks,
    cluster_replace_kubeconfig,
    cluster_update,
)

__all__ = [
    "cloud_account_connect",
    "cloud_account_delete",
    "cloud_account_update",
    "cloud_account_verify",
    "cluster_check_health",
    "cluster_check_health_by_id",
    "cluster_check_health_now",
    "cluster_connect_kubeconfig",
    "cluster_delete",
    "cluster_import_eks",
    "cluster_replace_kubeconfig",
    "cluster_update",
    "eks_clusters_discover",
]
