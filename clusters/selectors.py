"""Reads of cloud accounts and clusters, organization first."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from clusters.models import ACTIVE_STATES, CloudAccount, Cluster, ClusterMode, ManagedNode
from policies.models import Decision
from tenants.models import Organization


def cloud_account_list(organization: Organization) -> QuerySet[CloudAccount]:
    return (
        CloudAccount.objects.filter(organization=organization)
        .annotate(cluster_count=Count("clusters"))
        .order_by("name")
    )


def cluster_list(organization: Organization) -> QuerySet[Cluster]:
    return Cluster.objects.filter(organization=organization).select_related("cloud_account").order_by("name")


def cluster_ids_all() -> list[str]:
    """Every cluster, across organizations: periodic work (health, metering) fans out one task each."""
    return [str(pk) for pk in Cluster.objects.values_list("pk", flat=True)]


def nodeless_cluster_ids() -> list[str]:
    """Every nodeless cluster, across organizations: beat runs a provisioning pass for each."""
    return [str(pk) for pk in Cluster.objects.filter(mode=ClusterMode.NODELESS).values_list("pk", flat=True)]


def managed_node_list(
    organization: Organization, cluster: Cluster, *, include_gone: bool = False
) -> QuerySet[ManagedNode]:
    nodes = ManagedNode.objects.filter(organization=organization, cluster=cluster)
    if not include_gone:
        nodes = nodes.filter(state__in=ACTIVE_STATES)
    return nodes.order_by("-created_at")


def decision_count(organization: Organization, cluster: Cluster) -> int:
    return Decision.objects.filter(organization=organization, cluster=cluster).count()


def recent_decisions(organization: Organization, cluster: Cluster, *, limit: int = 25) -> list[Decision]:
    return list(
        Decision.objects.filter(organization=organization, cluster=cluster)
        .select_related("node")
        .order_by("-id")[:limit]
    )
