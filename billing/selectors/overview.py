"""The overview: spend today, this month and projected, savings, utilization, nodes, top workloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Q, Sum

from billing.models import ClusterRollup, Granularity
from billing.selectors.reports import (
    CAPACITY_LABELS,
    SeriesPoint,
    static_pools,
    usage_series,
    window_totals,
    workload_name,
)
from billing.selectors.usage import allocation_sums, organization_clusters, pod_seconds, window_usage
from engines.kube.capacity import CapacityType
from engines.metering import SECONDS_PER_HOUR, UNPRICED, SavingsRow, projected_month_end
from engines.metering.windows import HOUR, ReportWindow, floor_day, floor_hour, next_month_start, parse_window
from tenants.models import Organization

TOP_WORKLOADS = 8
RECENT = timedelta(hours=24)
# Less metered time than this says little about a month: the projection is withheld.
MIN_PROJECTION_SECONDS = 3600.0
_NODE_SECONDS = {kind: f"{kind}_node_seconds" for kind in (*CapacityType, UNPRICED)}


@dataclass(frozen=True)
class NodeCount:
    capacity_type: str
    label: str
    nodes: float  # average over the latest metered hour
    share_pct: float  # of all nodes in that hour


@dataclass(frozen=True)
class TopWorkload:
    namespace: str
    workload: str
    cost: float
    share_pct: float

    @property
    def name(self) -> str:
        return workload_name(self.namespace, self.workload)


@dataclass(frozen=True)
class Overview:
    has_clusters: bool
    has_data: bool
    month: ReportWindow
    spend_today: float
    month_to_date: float
    projected_month_end: float | None  # None: less than MIN_PROJECTION_SECONDS metered
    projection_basis_seconds: float  # the metered time whose spend rate the projection uses
    savings: SavingsRow  # this month: actual and the three baselines
    utilization: SeriesPoint  # today
    nodes: list[NodeCount]
    top_workloads: list[TopWorkload]
    daily: list[SeriesPoint]  # this month, per day (per hour on its first two days)
    usage_measured: bool

    @property
    def node_total(self) -> float:
        return sum(count.nodes for count in self.nodes)


_RESOURCE_FIELDS = (
    "cpu_requested",
    "cpu_used",
    "cpu_allocatable",
    "memory_requested",
    "memory_used",
    "memory_allocatable",
)


def _node_counts(organization: Organization, now: datetime) -> list[NodeCount]:
    """Average nodes per capacity type over each cluster's latest metered hour (of the last two)."""
    rows = ClusterRollup.objects.filter(
        organization=organization, granularity=Granularity.HOUR, start__gte=floor_hour(now) - HOUR
    ).values_list("cluster_id", "start", "metered_seconds", *_NODE_SECONDS.values())
    latest: dict[object, tuple[Any, ...]] = {}
    for row in rows:
        known = latest.get(row[0])
        if known is None or row[1] > known[1]:
            latest[row[0]] = row
    averages = {
        capacity_type: sum(float(row[position]) / float(row[2]) for row in latest.values() if row[2])
        for position, capacity_type in enumerate(_NODE_SECONDS, start=3)
    }
    total = sum(averages.values())
    return [
        NodeCount(capacity_type, CAPACITY_LABELS[capacity_type], nodes, 100.0 * nodes / total)
        for capacity_type, nodes in averages.items()
        if nodes > 0
    ]


@dataclass(frozen=True)
class _Recent:
    today: SeriesPoint  # spend and resource hours since midnight
    spend: float  # over the last 24 hours, or since metering began when that is more recent
    metered_seconds: float  # the time that spend covers


def _recent(organization: Organization, now: datetime) -> _Recent:
    """Today's totals and the last 24 hours' spend with the time it covers, from the hourly rollups
    (two queries)."""
    today, last_day = floor_day(now), floor_hour(now - RECENT)
    hourly = ClusterRollup.objects.filter(organization=organization, granularity=Granularity.HOUR)
    totals = hourly.filter(start__gte=min(today, last_day)).aggregate(
        today_node_cost=Sum("node_cost", filter=Q(start__gte=today)),
        **{f"today_{name}": Sum(name, filter=Q(start__gte=today)) for name in _RESOURCE_FIELDS},
        recent_cost=Sum("node_cost", filter=Q(start__gte=last_day)),
    )
    # The time covered is what was metered, not the wall clock since the first hour's start: metering
    # that began at 10:50 has covered 5 minutes at 10:55. Clusters metered side by side cover the same
    # time once, so each hour counts its most-metered cluster.
    per_hour = (
        hourly.filter(start__gte=last_day).values("start").annotate(covered=Max("metered_seconds")).order_by()
    )
    metered = sum(float(row["covered"] or 0) for row in per_hour)

    def hours(name: str) -> float:
        return float(totals[f"today_{name}"] or 0) / SECONDS_PER_HOUR

    point = SeriesPoint(
        start=today,
        spend_by_capacity={},
        actual=float(totals["today_node_cost"] or 0),
        static_pool=0.0,
        on_demand_only=0.0,
        serverless_only=0.0,
        cpu_requested=hours("cpu_requested"),
        cpu_used=hours("cpu_used"),
        cpu_allocatable=hours("cpu_allocatable"),
        memory_requested=hours("memory_requested"),
        memory_used=hours("memory_used"),
        memory_allocatable=hours("memory_allocatable"),
    )
    return _Recent(point, float(totals["recent_cost"] or 0), metered)


def overview(organization: Organization, now: datetime) -> Overview:
    clusters = organization_clusters(organization)
    month = parse_window("month", now)
    usage = window_usage(organization, month)
    pools = static_pools(clusters, usage)
    totals = window_totals(month, usage, pools)
    recent = _recent(organization, now)
    utilization = recent.today
    workloads = allocation_sums(
        organization,
        month.start,
        month.end,
        ("namespace", "workload"),
        include_idle=False,
        limit=TOP_WORKLOADS,
    )
    savings = SavingsRow(
        "month",
        "This month",
        totals.actual,
        totals.static_pool,
        totals.on_demand_only,
        totals.serverless_only or 0.0,
        *pod_seconds(organization, month.start, month.end),
    )
    return Overview(
        has_clusters=bool(clusters),
        has_data=usage.has_data,
        month=month,
        spend_today=utilization.actual,
        month_to_date=totals.actual,
        projected_month_end=projected_month_end(
            totals.actual,
            recent.spend,
            recent.metered_seconds / SECONDS_PER_HOUR,
            (next_month_start(now) - now) / HOUR,
        )
        if recent.metered_seconds >= MIN_PROJECTION_SECONDS
        else None,
        projection_basis_seconds=recent.metered_seconds,
        savings=savings,
        utilization=utilization,
        nodes=_node_counts(organization, now),
        top_workloads=[
            TopWorkload(
                row.keys["namespace"],
                row.keys["workload"],
                row.cost,
                100.0 * row.cost / totals.actual if totals.actual > 0 else 0.0,
            )
            for row in workloads
        ],
        daily=usage_series(month, usage, pools, serverless_applies=savings.serverless_applies),
        usage_measured=any(totals.usage_measured_seconds > 0 for totals in usage.clusters.values()),
    )
