"""Writing metered intervals and rebuilding the hourly and daily rollups from them.

Both are idempotent by construction: recording an interval replaces any earlier rows of the same
cluster and start, and a rollup is rebuilt from its sources (raw intervals for an hour, hourly
rollups for a day) rather than incremented, so metering an interval twice never counts it twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, QuerySet, Sum

from billing.models import (
    ALLOCATION_KEY_FIELDS,
    ALLOCATION_SUM_FIELDS,
    POOL_FIELDS,
    USAGE_SUM_FIELDS,
    AllocationRollup,
    AllocationUsage,
    ClusterRollup,
    Granularity,
    NodeUsage,
    UsageInterval,
)
from billing.services.ledger_rounding import RoundedUsage, rounded_usage
from clusters.models import Cluster
from engines.kube.capacity import CapacityType
from engines.metering import UNPRICED, IntervalUsage, PoolDemand
from engines.metering.windows import DAY, HOUR, floor_day, floor_hour

_BILLED_CAPACITY_TYPES = tuple(CapacityType)  # each has *_node_cost and *_node_seconds


def _pool_fields(prefix: str, demand: PoolDemand) -> dict[str, float]:
    parts = ("cpu", "memory", "gpus", "pods", "largest_cpu", "largest_memory", "largest_gpus")
    return {f"{prefix}_pool_{part}": value for part, value in zip(parts, demand.as_tuple(), strict=True)}


def interval_measures(usage: IntervalUsage, rounded: RoundedUsage) -> dict[str, Any]:
    resources = usage.resources
    measures: dict[str, Any] = {
        "metered_seconds": usage.interval.seconds,
        "node_cost": rounded.node_cost,
        "allocated_cost": rounded.allocated_cost,
        "idle_cost": rounded.idle_cost,
        "on_demand_cost": rounded.on_demand_cost,
        "serverless_cost": rounded.serverless_cost,
        "unpriced_node_seconds": usage.node_seconds.get(UNPRICED, 0.0),
        "cpu_requested": resources.requested.cpu,
        "cpu_allocatable": resources.allocatable.cpu,
        "cpu_used": resources.used.cpu,
        "memory_requested": resources.requested.memory_gib,
        "memory_allocatable": resources.allocatable.memory_gib,
        "memory_used": resources.used.memory_gib,
        "gpu_requested": resources.requested.gpus,
        "gpu_allocatable": resources.allocatable.gpus,
        "usage_measured_seconds": resources.measured_pod_seconds,
        **_pool_fields("cpu", usage.cpu_pool),
        **_pool_fields("gpu", usage.gpu_pool),
    }
    for capacity_type in _BILLED_CAPACITY_TYPES:
        measures[f"{capacity_type}_node_cost"] = rounded.node_cost_by_type.get(capacity_type, Decimal(0))
        measures[f"{capacity_type}_node_seconds"] = usage.node_seconds.get(capacity_type, 0.0)
    return measures


def interval_record(
    cluster: Cluster, *, usage: IntervalUsage, pods_observed: bool = True, pending_pods: int = 0
) -> UsageInterval:
    """Store one metered interval, replacing what an earlier run stored for it (call inside a
    transaction, with `rollups_refresh` for its hour). `pending_pods`: pods waiting for a node when
    the cluster was read for this interval."""
    start = datetime.fromtimestamp(usage.interval.start, UTC)
    rounded = rounded_usage(usage)
    UsageInterval.objects.filter(cluster=cluster, start=start).delete()  # cascades to its rows
    row = UsageInterval.objects.create(
        organization_id=cluster.organization_id,
        cluster=cluster,
        start=start,
        pods_observed=pods_observed,
        pending_pod_seconds=pending_pods * usage.interval.seconds,
        **interval_measures(usage, rounded),
    )
    NodeUsage.objects.bulk_create(
        [
            NodeUsage(
                interval=row,
                organization_id=cluster.organization_id,
                cluster=cluster,
                managed_node_id=node.managed_node_id or None,
                node_name=node.name[:253],
                instance_type=node.instance_type[:64],
                capacity_type=node.capacity_type,
                zone=node.zone[:48],
                price_per_hour=None
                if node.price_per_hour is None
                else Decimal(str(round(node.price_per_hour, 8))),
                seconds=node.seconds,
                cost=amounts.cost,
                on_demand_cost=amounts.on_demand_cost,
                allocated_cost=amounts.allocated_cost,
                idle_cost=amounts.idle_cost,
            )
            for node, amounts in zip(usage.nodes, rounded.nodes, strict=True)
        ],
        batch_size=2000,
    )
    AllocationUsage.objects.bulk_create(
        [
            AllocationUsage(
                interval=row,
                organization_id=cluster.organization_id,
                cluster=cluster,
                namespace=allocation.namespace[:63],
                workload=allocation.workload[:300],
                capacity_type=allocation.capacity_type,
                idle=allocation.idle,
                cost=amounts.cost,
                on_demand_cost=amounts.on_demand_cost,
                serverless_cost=amounts.serverless_cost,
                cpu_requested=allocation.cpu_requested,
                memory_requested=allocation.memory_requested,
                gpu_requested=allocation.gpu_requested,
                pod_seconds=allocation.pod_seconds,
                serverless_unfit_pod_seconds=allocation.serverless_unfit_pod_seconds,
            )
            for allocation, amounts in zip(usage.allocations, rounded.allocations, strict=True)
        ],
        batch_size=2000,
    )
    return row


def _rebuild(
    cluster: Cluster,
    granularity: Granularity,
    start: datetime,
    measures: QuerySet[Any],
    allocations: QuerySet[Any],
) -> None:
    """Replace one rollup (cluster, granularity, start) with the sums of its sources."""
    totals = measures.aggregate(
        rows=Count("id"),
        **{name: Sum(name) for name in USAGE_SUM_FIELDS},
        **{name: Max(name) for name in POOL_FIELDS},
    )
    rows = totals.pop("rows")
    ClusterRollup.objects.filter(cluster=cluster, granularity=granularity, start=start).delete()
    AllocationRollup.objects.filter(cluster=cluster, granularity=granularity, start=start).delete()
    if not rows:
        return
    common = {
        "organization_id": cluster.organization_id,
        "cluster": cluster,
        "granularity": granularity,
        "start": start,
    }
    ClusterRollup.objects.create(**common, **{name: value or 0 for name, value in totals.items()})
    grouped = allocations.values(*ALLOCATION_KEY_FIELDS).annotate(
        **{f"total_{n}": Sum(n) for n in ALLOCATION_SUM_FIELDS}
    )
    AllocationRollup.objects.bulk_create(
        [
            AllocationRollup(
                **common,
                **{key: group[key] for key in ALLOCATION_KEY_FIELDS},
                **{name: group[f"total_{name}"] or 0 for name in ALLOCATION_SUM_FIELDS},
            )
            for group in grouped
        ],
        batch_size=2000,
    )


def rollups_refresh(cluster: Cluster, *, moments: Iterable[datetime]) -> None:
    """Rebuild the hourly rollups of the hours holding `moments`, then their days' rollups."""
    hours = sorted({floor_hour(moment) for moment in moments})
    for hour in hours:
        window = {"start__gte": hour, "start__lt": hour + HOUR}
        _rebuild(
            cluster,
            Granularity.HOUR,
            hour,
            UsageInterval.objects.filter(cluster=cluster, **window),
            AllocationUsage.objects.filter(
                interval__cluster=cluster, **{f"interval__{k}": v for k, v in window.items()}
            ),
        )
    for day in sorted({floor_day(hour) for hour in hours}):
        hourly: dict[str, Any] = {"cluster": cluster, "granularity": Granularity.HOUR}
        span = {"start__gte": day, "start__lt": day + DAY}
        _rebuild(
            cluster,
            Granularity.DAY,
            day,
            ClusterRollup.objects.filter(**hourly, **span),
            AllocationRollup.objects.filter(**hourly, **span),
        )


RAW_RETENTION = timedelta(days=8)
PRUNE_BATCH = 5000


def raw_usage_prune(now: datetime) -> int:
    """Delete raw intervals older than the retention (their hours are in the rollups), in batches
    so one run never holds a long transaction. Returns the number of intervals deleted.

    A system entry point (the hourly `metering_prune` task), across every organization."""
    deleted = 0
    while True:
        ids = list(
            UsageInterval.objects.filter(start__lt=now - RAW_RETENTION).values_list("id", flat=True)[
                :PRUNE_BATCH
            ]
        )
        if not ids:
            return deleted
        UsageInterval.objects.filter(id__in=ids).delete()
        deleted += len(ids)
