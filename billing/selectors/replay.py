"""Reads for the replay of a draft policy: the recorded period as the engine's inputs, what really
happened over it, and a tenant's replay runs."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet, Sum

from billing.models import AllocationUsage, NodeUsage, ReplayRun, UsageInterval
from clusters.models import Cluster
from engines.planner import CapacityType
from engines.replay.ledger import PeriodFigures, RecordedInterval, WorkloadInterval
from tenants.access import get_for_organization
from tenants.models import Organization

# The runs a cluster's policy page lists.
RECENT_RUNS = 5


def replay_run(organization: Organization, run_id: object) -> ReplayRun:
    """One of the organization's runs (404 to anyone else)."""
    return get_for_organization(organization, ReplayRun.objects.select_related("cluster"), run_id)


def recent_replay_runs(organization: Organization, cluster: Cluster) -> QuerySet[ReplayRun]:
    return ReplayRun.objects.filter(organization=organization, cluster=cluster).order_by("-created_at")[
        :RECENT_RUNS
    ]


def recorded_intervals(cluster: Cluster, start: datetime, end: datetime) -> list[RecordedInterval]:
    rows = UsageInterval.objects.filter(cluster=cluster, start__gte=start, start__lt=end).values_list(
        "start", "metered_seconds", "pods_observed"
    )
    return [RecordedInterval(moment.timestamp(), seconds, observed) for moment, seconds, observed in rows]


def recorded_workloads(cluster: Cluster, start: datetime, end: datetime) -> list[WorkloadInterval]:
    """Each workload's pods per metered interval, every capacity type together (idle rows are not
    pods)."""
    rows = (
        AllocationUsage.objects.filter(
            cluster=cluster, idle=False, interval__start__gte=start, interval__start__lt=end
        )
        .values("interval__start", "interval__metered_seconds", "namespace", "workload")
        .annotate(
            pods=Sum("pod_seconds"),
            cpu=Sum("cpu_requested"),
            memory=Sum("memory_requested"),
            gpus=Sum("gpu_requested"),
        )
    )
    return [
        WorkloadInterval(
            start=row["interval__start"].timestamp(),
            seconds=row["interval__metered_seconds"],
            namespace=row["namespace"],
            workload=row["workload"],
            pod_seconds=row["pods"] or 0.0,
            cpu_seconds=row["cpu"] or 0.0,
            memory_gib_seconds=row["memory"] or 0.0,
            gpu_seconds=row["gpus"] or 0.0,
        )
        for row in rows
    ]


def recorded_figures(cluster: Cluster, start: datetime, end: datetime) -> PeriodFigures:
    """What the cluster's nodes cost over the period, how long pods waited, how many nodes ran
    (serverless micro-VMs are not nodes)."""
    intervals = UsageInterval.objects.filter(cluster=cluster, start__gte=start, start__lt=end)
    sums = intervals.aggregate(
        spend=Sum("node_cost"),
        pending=Sum("pending_pod_seconds"),
        on_demand=Sum("on_demand_node_seconds"),
        spot=Sum("spot_node_seconds"),
        unpriced=Sum("unpriced_node_seconds"),
    )
    peak = (
        NodeUsage.objects.filter(cluster=cluster, interval__start__gte=start, interval__start__lt=end)
        .exclude(capacity_type=CapacityType.SERVERLESS.value)
        .values("interval_id")
        .annotate(nodes=Count("id", filter=Q(seconds__gt=0)))
        .aggregate(peak=Max("nodes"))["peak"]
    )
    return PeriodFigures(
        spend=float(sums["spend"] or 0),
        pending_pod_seconds=sums["pending"] or 0.0,
        node_seconds=(sums["on_demand"] or 0.0) + (sums["spot"] or 0.0) + (sums["unpriced"] or 0.0),
        peak_nodes=peak or 0,
        period_seconds=(end - start).total_seconds(),
    )
