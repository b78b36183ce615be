"""Reads of cloud accounts and clusters, organization first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet
from django.utils import timezone

from clusters.kube.probe import KUBECTL_PERMISSIONS
from clusters.models import (
    ACTIVE_STATES,
    CloudAccount,
    Cluster,
    ClusterCheckStep,
    ClusterObservation,
    ClusterStatus,
    ManagedNode,
    NodeClass,
    OnDemandPrice,
    SpotPriceForecast,
)
from tenants.models import Organization


def cloud_account_list(organization: Organization) -> QuerySet[CloudAccount]:
    return (
        CloudAccount.objects.filter(organization=organization)
        .annotate(cluster_count=Count("clusters"))
        .order_by("name")
    )


def cluster_list(organization: Organization) -> QuerySet[Cluster]:
    return Cluster.objects.filter(organization=organization).select_related("cloud_account").order_by("name")


def _in_service() -> QuerySet[Cluster]:
    """Clusters whose connection a worker verified (not still connecting, not failed to connect)."""
    return Cluster.objects.filter(status=ClusterStatus.CONNECTED)


def connected_cluster_ids() -> list[str]:
    """Every connected cluster, across organizations: periodic work (health, metering) fans out one
    task each."""
    return [str(pk) for pk in _in_service().values_list("pk", flat=True)]


# A check asked for longer ago than this and still not done is taken as lost (its worker died): the
# page offers to ask again, and a new ask sends another.
CHECK_STALE_SECONDS = 120


@dataclass(frozen=True)
class CheckStep:
    label: str
    state: str  # "done", "current" or "waiting"


@dataclass(frozen=True)
class CheckProgress:
    """A check someone asked for, while it runs: its steps and how long ago it was asked."""

    steps: list[CheckStep]
    seconds: int
    connecting: bool

    @property
    def stale(self) -> bool:
        return self.seconds >= CHECK_STALE_SECONDS


def cluster_check_progress(cluster: Cluster, *, now: datetime | None = None) -> CheckProgress | None:
    """None when no check of the cluster is in flight."""
    if cluster.check_started_at is None:
        return None
    order = list(ClusterCheckStep)
    at = order.index(ClusterCheckStep(cluster.check_step)) if cluster.check_step in order else 0
    steps = [
        CheckStep(str(step.label), "done" if index < at else "current" if index == at else "waiting")
        for index, step in enumerate(order)
    ]
    seconds = int(((now or timezone.now()) - cluster.check_started_at).total_seconds())
    return CheckProgress(steps, max(seconds, 0), cluster.status != ClusterStatus.CONNECTED)


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


def cluster_node_class(cluster: Cluster) -> NodeClass:
    """The cluster's node class as last discovered (an empty, unsaved one before the first look)."""
    return NodeClass.objects.filter(cluster=cluster).first() or NodeClass(cluster=cluster)


def spot_forecasts_of(region: str) -> dict[tuple[str, str], float]:
    """The stored spot price forecasts of a region, by (instance type, zone); empty before the
    first market refresh of the region."""
    return {
        (instance_type, zone): float(price)
        for instance_type, zone, price in SpotPriceForecast.objects.filter(region=region).values_list(
            "instance_type", "zone", "usd_per_hour"
        )
    }


def on_demand_prices_of(region: str) -> dict[str, float]:
    """The region's on-demand list prices from the last Price List refresh, by instance type."""
    return {
        instance_type: float(price)
        for instance_type, price in OnDemandPrice.objects.filter(region=region).values_list(
            "instance_type", "usd_per_hour"
        )
    }


def regions_with_price_lists() -> set[str]:
    """Regions a Price List refresh has stored on-demand prices for."""
    return set(OnDemandPrice.objects.values_list("region", flat=True).distinct())


_QUEUE_ARN_REGION = re.compile(r"^arn:aws(?:-us-gov|-cn)?:sqs:([a-z0-9-]+):")


def stack_queue_url(account: CloudAccount, *, region: str) -> str:
    """The interruption queue the account's onboarding stack outputs name, when it serves `region` (a
    stack's queue is in the stack's region; its ARN output says which), else ""."""
    outputs = account.stack_outputs or {}
    url = str(outputs.get("InterruptionQueueUrl", ""))
    arn = _QUEUE_ARN_REGION.match(str(outputs.get("InterruptionQueueArn", "")))
    if not url or (arn is not None and arn.group(1) != region):
        return ""
    return url


@dataclass(frozen=True)
class CheckedPermission:
    label: str  # "create deployments.apps"
    allowed: bool
    used_for: str  # for an optional one, the kubectl command that needs it


def cluster_permissions(cluster: Cluster) -> tuple[list[CheckedPermission], list[CheckedPermission]]:
    """The permissions the last check asked about: (required, optional for kubectl through the
    endpoint). A check from before the optional ones were asked has none of them."""
    optional = {p.label: p.why for p in KUBECTL_PERMISSIONS}
    checked = cluster.permissions or {}
    required = [
        CheckedPermission(label, bool(ok), "") for label, ok in checked.items() if label not in optional
    ]
    kubectl = [
        CheckedPermission(label, bool(checked[label]), why)
        for label, why in optional.items()
        if label in checked
    ]
    return required, kubectl
