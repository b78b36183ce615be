"""Reading the rollups for a window: per-bucket cluster totals and per-group allocation sums.

Every read goes through `rollup_filter`, which takes whole UTC days from the daily rollups and the
edge hours from the hourly ones, so a page sums a bounded number of rows whatever the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDay

from billing.models import USAGE_SUM_FIELDS, AllocationRollup, ClusterRollup, Granularity
from clusters.models import Cluster
from engines.kube.capacity import CapacityType
from engines.metering import SECONDS_PER_HOUR, PoolDemand, Quantities
from engines.metering.windows import ReportWindow, rollup_ranges
from tenants.models import Organization

BILLED_CAPACITY_TYPES = (CapacityType.ON_DEMAND, CapacityType.SPOT, CapacityType.SERVERLESS)


def rollup_filter(start: datetime, end: datetime) -> Q:
    ranges = rollup_ranges(start, end)
    condition = Q(pk__in=[])
    if ranges.days is not None:
        condition |= Q(granularity=Granularity.DAY, start__gte=ranges.days[0], start__lt=ranges.days[1])
    for low, high in ranges.hours:
        condition |= Q(granularity=Granularity.HOUR, start__gte=low, start__lt=high)
    return condition


_POOL_PARTS = ("cpu", "memory", "gpus", "pods", "largest_cpu", "largest_memory", "largest_gpus")
_CLUSTER_SUMS = (
    "metered_seconds",
    "on_demand_cost",
    "usage_measured_seconds",
    "cpu_requested",
    "memory_requested",
    "gpu_requested",
)


@dataclass(frozen=True)
class BucketTotals:
    """Every cluster's sums over one chart bucket (an hour or a UTC day)."""

    bucket: datetime
    sums: dict[str, float]

    def __getitem__(self, name: str) -> float:
        return self.sums[name]


@dataclass(frozen=True)
class ClusterTotals:
    """One cluster over the whole window: what sizes its static pool, and what replaces it when no
    pool can be sized."""

    cluster_id: str
    metered_seconds: float
    on_demand_cost: float
    usage_measured_seconds: float
    cpu_pool: PoolDemand
    gpu_pool: PoolDemand
    requested_hours: Quantities = Quantities()  # core-, GiB- and GPU-hours the pods requested


@dataclass(frozen=True)
class WindowUsage:
    buckets: list[BucketTotals]
    clusters: dict[str, ClusterTotals]
    metered: list[tuple[datetime, str, float]]  # (bucket, cluster id, metered seconds)

    @property
    def has_data(self) -> bool:
        return bool(self.clusters)


def _window_rows(organization: Organization, window: ReportWindow) -> QuerySet[Any]:
    """The window's rollup rows, each with the chart bucket it falls in."""
    if window.step == "hour":
        return ClusterRollup.objects.filter(
            organization=organization,
            granularity=Granularity.HOUR,
            start__gte=window.start,
            start__lt=window.end,
        ).annotate(bucket=F("start"))
    return (
        ClusterRollup.objects.filter(organization=organization)
        .filter(rollup_filter(window.start, window.end))
        .annotate(bucket=TruncDay("start", tzinfo=UTC))
    )


def window_usage(organization: Organization, window: ReportWindow) -> WindowUsage:
    """The window's rollups summed three ways (three small queries): per bucket for the charts, per
    cluster for the static pools (peaks), and metered time per bucket and cluster (to spread each
    cluster's pool over the buckets it was metered in)."""
    rows = _window_rows(organization, window)
    per_bucket = (
        rows.values("bucket")
        .annotate(**{f"sum_{name}": Sum(name) for name in USAGE_SUM_FIELDS})
        .order_by("bucket")
    )
    buckets = [
        BucketTotals(row["bucket"], {name: float(row[f"sum_{name}"] or 0) for name in USAGE_SUM_FIELDS})
        for row in per_bucket
    ]
    pool_fields = [f"{pool}_pool_{part}" for pool in ("cpu", "gpu") for part in _POOL_PARTS]
    per_cluster = (
        rows.order_by()
        .values_list("cluster_id")
        .annotate(*(Sum(name) for name in _CLUSTER_SUMS), *(Max(name) for name in pool_fields))
    )
    clusters = {}
    for cluster_id, *values in per_cluster:
        metered, on_demand, measured, cpu, memory, gpus, *pools = (float(value or 0) for value in values)
        clusters[str(cluster_id)] = ClusterTotals(
            cluster_id=str(cluster_id),
            metered_seconds=metered,
            on_demand_cost=on_demand,
            usage_measured_seconds=measured,
            cpu_pool=PoolDemand(*pools[: len(_POOL_PARTS)]),
            gpu_pool=PoolDemand(*pools[len(_POOL_PARTS) :]),
            requested_hours=Quantities(
                cpu / SECONDS_PER_HOUR, memory / SECONDS_PER_HOUR, gpus / SECONDS_PER_HOUR
            ),
        )
    metered_by_bucket = [
        (bucket, str(cluster_id), float(seconds or 0))
        for bucket, cluster_id, seconds in rows.order_by()
        .values_list("bucket", "cluster_id")
        .annotate(Sum("metered_seconds"))
    ]
    return WindowUsage(buckets, clusters, metered_by_bucket)


GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "cluster": ("cluster_id", "idle"),
    "namespace": ("cluster_id", "namespace", "idle"),
    "workload": ("cluster_id", "namespace", "workload", "idle"),
    "capacity_type": ("cluster_id", "capacity_type", "idle"),
}


@dataclass(frozen=True)
class AllocationSums:
    cluster_id: str
    keys: dict[str, Any]
    cost: float
    on_demand_cost: float
    serverless_cost: float
    extra: dict[str, float] = field(default_factory=dict)


def allocation_sums(
    organization: Organization,
    start: datetime,
    end: datetime,
    fields: Sequence[str],
    *,
    include_idle: bool = True,
    limit: int | None = None,
) -> list[AllocationSums]:
    """Allocation sums grouped by `fields` (dearest first when limited)."""
    rows = AllocationRollup.objects.filter(organization=organization).filter(rollup_filter(start, end))
    if not include_idle:
        rows = rows.filter(idle=False)
    grouped = (
        rows.values(*fields)
        .annotate(
            total_cost=Sum("cost"),
            total_on_demand=Sum("on_demand_cost"),
            total_serverless=Sum("serverless_cost"),
            total_pod_seconds=Sum("pod_seconds"),
            total_serverless_unfit=Sum("serverless_unfit_pod_seconds"),
            total_cpu=Sum("cpu_requested"),
            total_memory=Sum("memory_requested"),
        )
        .order_by("-total_cost", *fields)
    )
    if limit is not None:
        grouped = grouped[:limit]
    return [
        AllocationSums(
            cluster_id=str(row.get("cluster_id", "")),
            keys={name: row[name] for name in fields},
            cost=float(row["total_cost"] or 0),
            on_demand_cost=float(row["total_on_demand"] or 0),
            serverless_cost=float(row["total_serverless"] or 0),
            extra={
                "pod_seconds": float(row["total_pod_seconds"] or 0),
                "serverless_unfit_pod_seconds": float(row["total_serverless_unfit"] or 0),
                "cpu_requested": float(row["total_cpu"] or 0),
                "memory_requested": float(row["total_memory"] or 0),
            },
        )
        for row in grouped
    ]


def pod_seconds(organization: Organization, start: datetime, end: datetime) -> tuple[float, float]:
    """(pod-seconds, of which pods no serverless shape holds) over a window (one query)."""
    totals = (
        AllocationRollup.objects.filter(organization=organization, idle=False)
        .filter(rollup_filter(start, end))
        .aggregate(pods=Sum("pod_seconds"), unfit=Sum("serverless_unfit_pod_seconds"))
    )
    return float(totals["pods"] or 0), float(totals["unfit"] or 0)


def organization_clusters(organization: Organization) -> dict[str, Cluster]:
    """Every cluster of the organization by id, with its cloud account (for prices and names)."""
    clusters = (
        Cluster.objects.filter(organization=organization)
        .select_related("cloud_account")
        .only(  # what names and prices need: the cluster's other columns can be large (kubeconfigs)
            "id",
            "organization_id",
            "name",
            "region",
            "labels",
            "cloud_account__on_demand_discount_pct",
            "cloud_account__spot_discount_pct",
            "cloud_account__serverless_discount_pct",
        )
        .order_by("name")
    )
    return {str(cluster.pk): cluster for cluster in clusters}


@dataclass(frozen=True)
class ClusterSpend:
    today: float
    month: float
    idle_month: float
    has_data: bool


def cluster_spend(cluster: Cluster, now: datetime) -> ClusterSpend:
    """One cluster's spend today and this month (one query; today's hours are among the month's)."""
    month_begins = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    month = rollup_filter(month_begins, end)
    # Today always from its hours: once the last hour of the day starts, the month's range ends
    # tomorrow and reads today from the daily rollup instead.
    today_hours = Q(granularity=Granularity.HOUR, start__gte=today)
    totals = (
        ClusterRollup.objects.filter(organization_id=cluster.organization_id, cluster=cluster)
        .filter(month | today_hours)
        .aggregate(
            month=Sum("node_cost", filter=month),
            idle=Sum("idle_cost", filter=month),
            today=Sum("node_cost", filter=today_hours),
            rows=Count("id", filter=month),
        )
    )
    return ClusterSpend(
        today=float(totals["today"] or 0),
        month=float(totals["month"] or 0),
        idle_month=float(totals["idle"] or 0),
        has_data=bool(totals["rows"]),
    )
