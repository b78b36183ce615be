"""Reads of cloud accounts and clusters, organization first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet

from clusters.models import ACTIVE_STATES, CloudAccount, Cluster, ClusterMode, ClusterObservation, ManagedNode
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


@dataclass(frozen=True)
class PodRow:
    namespace: str
    name: str
    phase: str
    node: str
    cpu: str  # quantities, as the page's filters take them ("250m", "512Mi")
    memory: str
    reason: str


@dataclass(frozen=True)
class PodListing:
    """The cluster's pods as last observed (pending first, running next, finished last)."""

    pods: list[PodRow]
    total: int
    observed_at: datetime | None
    problem: str = ""

    @property
    def truncated(self) -> bool:
        return self.total > len(self.pods)


def cluster_observation(organization: Organization, cluster: Cluster) -> ClusterObservation | None:
    """The cluster's latest observation, None before the first."""
    return ClusterObservation.objects.filter(organization=organization, cluster=cluster).first()


def cluster_pods(organization: Organization, cluster: Cluster, *, limit: int) -> PodListing:
    """From the cluster's latest observation: the page never calls the cluster itself."""
    observation = cluster_observation(organization, cluster)
    if observation is None:
        return PodListing([], 0, None, "not observed yet: the first health check lists it within a minute")
    summary = observation.summary or {}
    rows = [
        PodRow(
            namespace=row["namespace"],
            name=row["name"],
            phase=row["phase"],
            node=row["node"],
            cpu="" if row["cpu_millis"] is None else f"{row['cpu_millis']}m",
            memory="" if row["memory_mib"] is None else f"{row['memory_mib']}Mi",
            reason=row["reason"],
        )
        for row in (summary.get("pod_rows") or [])[:limit]
    ]
    total = int(summary.get("pod_rows_total") or 0)
    return PodListing(rows, max(total, len(rows)), observation.observed_at, observation.problem)
