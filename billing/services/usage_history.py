"""Keeping what each workload's containers used, for right-sizing: every metering read that has the
cluster's metrics (metrics.k8s.io) adds one sample per running container to its hour's row
(`ContainerUsageHour`): CPU and memory into histograms, the peak, samples at the CPU limit, OOM
kills seen in the container statuses, its latest requests and limits, and the per-resource rates of
the node it ran on (as metering allocates the pod's cost).

Bounded: a row per workload container and hour, of a few dozen histogram buckets; at most
`MAX_CONTAINERS_PER_HOUR` rows per cluster and hour (the first seen are kept); rows older than
`USAGE_HISTORY_DAYS` are pruned every hour (`usage_history_prune`, with the ledger's raw rows), and
the hours of days before yesterday merged into one row per day (`usage_history_compact`): today and
yesterday stay hourly, so the 24-hour window is exact and a week reads about 30 rows per container.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction

from billing.models import ContainerUsageHour
from billing.services.samples import ClusterRead, workload_of
from clusters.models import Cluster
from engines.kube.pods import Pod, container_requests, resources_of
from engines.kube.quantity import QuantityError
from engines.metering import NodeSample, Quantities, ResourceRates, split_node_price
from engines.metering.rightsizing import CPU_FIRST_BUCKET, MEMORY_FIRST_BUCKET, histogram_add, histogram_merge

logger = logging.getLogger(__name__)

USAGE_HISTORY_DAYS = 8  # a week's window, and the day it started in
MAX_CONTAINERS_PER_HOUR = 5000
MAX_OOM_EVENTS = 20
AT_LIMIT = 0.95  # usage at this share of the CPU limit counts as at the limit (likely throttled)

Key = tuple[str, str, str]  # namespace, workload, container


@dataclass
class _Seen:
    """What one read saw of one workload container (all its pods)."""

    samples: int = 0
    cpu: dict[int, int] = field(default_factory=dict)
    memory: dict[int, int] = field(default_factory=dict)
    memory_peak: float = 0.0
    cpu_at_limit: int = 0
    oom_events: set[str] = field(default_factory=set)
    requests: Quantities = Quantities()
    cpu_limit: float | None = None
    memory_limit: float | None = None
    cpu_rate_sum: float = 0.0
    memory_rate_sum: float = 0.0
    priced: int = 0


def _oom_events(pod: Pod, container: str) -> set[str]:
    """The OOM kills the container's status shows (its current and last termination)."""
    events = set()
    for status in pod.status.get("containerStatuses") or ():
        if status.get("name") != container:
            continue
        for state in (status.get("state") or {}, status.get("lastState") or {}):
            terminated = state.get("terminated") or {}
            if terminated.get("reason") == "OOMKilled":
                events.add(f"{pod.uid}/{terminated.get('finishedAt') or status.get('restartCount', 0)}")
    return events


def _add(seen: _Seen, spec: Mapping[str, object], usage: Quantities, rates: ResourceRates | None) -> None:
    resources = spec.get("resources")
    limits = resources.get("limits") if isinstance(resources, Mapping) else None
    limit = resources_of(limits if isinstance(limits, Mapping) else None)
    has = limits if isinstance(limits, Mapping) else {}
    requested = container_requests(spec)
    seen.samples += 1
    histogram_add(seen.cpu, usage.cpu, CPU_FIRST_BUCKET)
    histogram_add(seen.memory, usage.memory_gib, MEMORY_FIRST_BUCKET)
    seen.memory_peak = max(seen.memory_peak, usage.memory_gib)
    seen.requests = Quantities(requested.cpu_millis / 1000, requested.memory_mib / 1024)
    seen.cpu_limit = limit.cpu_millis / 1000 if "cpu" in has else None
    seen.memory_limit = limit.memory_mib / 1024 if "memory" in has else None
    if seen.cpu_limit and usage.cpu >= AT_LIMIT * seen.cpu_limit:
        seen.cpu_at_limit += 1
    if rates is not None:
        seen.cpu_rate_sum += rates.cpu
        seen.memory_rate_sum += rates.memory_gib
        seen.priced += 1


def measured_containers(read: ClusterRead, nodes: Sequence[NodeSample]) -> dict[Key, _Seen]:
    """One read's samples, per workload container: running pods the metrics API measured."""
    if read.state is None or not read.containers:
        return {}
    rates = {
        node.name: split_node_price(node.price_per_hour or 0.0, node.capacity)
        for node in nodes
        if node.priced
    }
    seen: dict[Key, _Seen] = {}
    for pod in read.state.bound_pods:
        measured = read.containers.get((pod.namespace, pod.name))
        if not measured or pod.is_finished:
            continue
        workload = workload_of(pod)
        for spec in pod.spec.get("containers") or ():
            name = str(spec.get("name", ""))
            usage = measured.get(name)
            if usage is None:
                continue
            entry = seen.setdefault((pod.namespace, workload, name), _Seen())
            try:
                _add(entry, spec, usage, rates.get(pod.node_name))
            except QuantityError:
                continue  # a request no scheduler could read: the pod never ran
            entry.oom_events |= _oom_events(pod, name)
    return seen


def _merged(row: ContainerUsageHour, seen: _Seen, now: datetime) -> None:
    for attribute, histogram in (("cpu_histogram", seen.cpu), ("memory_histogram", seen.memory)):
        stored = dict(getattr(row, attribute) or {})
        for bucket, count in histogram.items():
            stored[str(bucket)] = int(stored.get(str(bucket), 0)) + count
        setattr(row, attribute, stored)
    row.samples += seen.samples
    row.last_sample_at = now
    row.memory_peak_gib = max(row.memory_peak_gib, seen.memory_peak)
    row.cpu_at_limit += seen.cpu_at_limit
    row.oom_events = sorted(set(row.oom_events or ()) | seen.oom_events)[:MAX_OOM_EVENTS]
    row.cpu_request, row.memory_request_gib = seen.requests.cpu, seen.requests.memory_gib
    row.cpu_limit, row.memory_limit_gib = seen.cpu_limit, seen.memory_limit
    row.cpu_rate_sum += seen.cpu_rate_sum
    row.memory_rate_sum += seen.memory_rate_sum
    row.priced_samples += seen.priced


_UPDATED = (
    "samples",
    "last_sample_at",
    "cpu_histogram",
    "memory_histogram",
    "memory_peak_gib",
    "cpu_at_limit",
    "oom_events",
    "cpu_request",
    "memory_request_gib",
    "cpu_limit",
    "memory_limit_gib",
    "cpu_rate_sum",
    "memory_rate_sum",
    "priced_samples",
)


def usage_history_record(
    cluster: Cluster, *, read: ClusterRead, nodes: Sequence[NodeSample], now: datetime
) -> int:
    """Add one read's samples to the hour's rows; returns the containers sampled. Called by
    metering, which holds the cluster's lease: one writer per cluster."""
    seen = measured_containers(read, nodes)
    if not seen:
        return 0
    hour = now.replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        rows = ContainerUsageHour.objects.filter(cluster=cluster, hour=hour)
        existing = {(row.namespace, row.workload, row.container): row for row in rows}
        created: list[ContainerUsageHour] = []
        updated: list[ContainerUsageHour] = []
        for key, part in seen.items():
            row = existing.get(key)
            if row is not None:
                updated.append(row)
            else:
                if len(existing) + len(created) >= MAX_CONTAINERS_PER_HOUR:
                    logger.warning(
                        "usage history of %s: over %s containers, the rest not kept",
                        cluster.pk,
                        MAX_CONTAINERS_PER_HOUR,
                    )
                    break
                row = ContainerUsageHour(
                    organization_id=cluster.organization_id,
                    cluster=cluster,
                    namespace=key[0],
                    workload=key[1],
                    container=key[2],
                    hour=hour,
                    first_sample_at=now,
                    last_sample_at=now,
                )
                created.append(row)
            _merged(row, part, now)
        ContainerUsageHour.objects.bulk_update(updated, _UPDATED, batch_size=500)
        ContainerUsageHour.objects.bulk_create(created, batch_size=500)
    return len(seen)


def usage_history_prune(now: datetime) -> int:
    """Delete hours older than the retention, across every organization (the hourly prune task).
    Returns the rows deleted."""
    deleted, _ = ContainerUsageHour.objects.filter(hour__lt=now - timedelta(days=USAGE_HISTORY_DAYS)).delete()
    return deleted


def _combined(rows: Sequence[ContainerUsageHour], day: datetime) -> ContainerUsageHour:
    """One row holding what `rows` (one container's hours, oldest first) hold."""
    latest = rows[-1]
    combined = ContainerUsageHour(
        organization_id=latest.organization_id,
        cluster_id=latest.cluster_id,
        namespace=latest.namespace,
        workload=latest.workload,
        container=latest.container,
        hour=day,
        whole_day=True,
        samples=sum(row.samples for row in rows),
        first_sample_at=min(row.first_sample_at for row in rows),
        last_sample_at=max(row.last_sample_at for row in rows),
        memory_peak_gib=max(row.memory_peak_gib for row in rows),
        cpu_at_limit=sum(row.cpu_at_limit for row in rows),
        oom_events=sorted(set().union(*(row.oom_events or () for row in rows)))[:MAX_OOM_EVENTS],
        cpu_request=latest.cpu_request,
        memory_request_gib=latest.memory_request_gib,
        cpu_limit=latest.cpu_limit,
        memory_limit_gib=latest.memory_limit_gib,
        cpu_rate_sum=sum(row.cpu_rate_sum for row in rows),
        memory_rate_sum=sum(row.memory_rate_sum for row in rows),
        priced_samples=sum(row.priced_samples for row in rows),
    )
    for attribute in ("cpu_histogram", "memory_histogram"):
        merged = histogram_merge(getattr(row, attribute) or {} for row in rows)
        setattr(combined, attribute, {str(bucket): count for bucket, count in merged.items()})
    return combined


def usage_history_compact(now: datetime) -> int:
    """Merge the hours of every day before yesterday into one row per container and day, one day
    at a time (the hourly prune task, across every organization). Returns the days compacted."""
    yesterday = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    hourly = ContainerUsageHour.objects.filter(whole_day=False, hour__lt=yesterday)
    days = 0
    while (first := hourly.order_by("hour").values_list("hour", flat=True).first()) is not None:
        day = first.replace(hour=0, minute=0, second=0, microsecond=0)
        with transaction.atomic():
            rows = list(
                hourly.filter(hour__gte=day, hour__lt=day + timedelta(days=1))
                .select_for_update()
                .order_by("cluster_id", "namespace", "workload", "container", "hour")
            )
            groups: dict[tuple[object, str, str, str], list[ContainerUsageHour]] = {}
            for row in rows:
                groups.setdefault((row.cluster_id, row.namespace, row.workload, row.container), []).append(
                    row
                )
            ContainerUsageHour.objects.filter(pk__in=[row.pk for row in rows]).delete()
            ContainerUsageHour.objects.bulk_create(
                [_combined(group, day) for group in groups.values()], batch_size=500
            )
        days += 1
    return days
