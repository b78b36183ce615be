"""Right-sizing recommendations: per workload, its containers' recommended requests from the usage
history metering keeps (`ContainerUsageHour`), the monthly saving if applied, and the snippet that
applies it. The arithmetic is `engines.metering.rightsizing`; this reads the rows and the ledger.

The saving is priced as metering allocates a pod's cost: the per-core and per-GiB rates of the nodes
the workload's pods ran on (averaged over the samples), times its average number of pods since it
first ran in the window (pod-seconds in the ledger over the cluster's metered seconds), times 730
hours.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Max, Min, Q, Sum

from billing.models import AllocationRollup, ClusterRollup, ContainerUsageHour, Granularity
from billing.resize_snippets import ContainerResources, kubectl_patch, manifest_fragment
from billing.selectors.usage import organization_clusters
from clusters.models import Cluster
from engines.metering import Quantities, ResourceRates
from engines.metering.rightsizing import (
    Confidence,
    ContainerHistory,
    ContainerRecommendation,
    Verdict,
    histogram_merge,
    monthly_saving,
    recommend,
    weakest,
)
from tenants.models import Organization

WINDOWS = {"24h": timedelta(hours=24), "3d": timedelta(days=3), "7d": timedelta(days=7)}
DEFAULT_WINDOW = "7d"
CENT = Decimal("0.01")
_ID_NAMESPACE = uuid.UUID("5b0f3f57-3c57-4d8e-9a51-6f1b9e7c2a10")


class RightsizingError(ValueError):
    """A query a person can fix (the message says how)."""


def parse_rightsizing_window(value: str | None) -> str:
    key = value or DEFAULT_WINDOW
    if key not in WINDOWS:
        raise RightsizingError(f"Unknown window {key!r}: use one of {', '.join(WINDOWS)}.")
    return key


def recommendation_id(cluster_id: str, namespace: str, workload: str) -> str:
    """The same workload always has the same id, whatever the window or the numbers."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{cluster_id}/{namespace}/{workload}"))


@dataclass(frozen=True)
class ContainerRow:
    recommendation: ContainerRecommendation
    current_limits: tuple[float | None, float | None]
    monthly_saving: Decimal | None

    @property
    def name(self) -> str:
        return self.recommendation.container


@dataclass(frozen=True)
class WorkloadRecommendation:
    id: str
    cluster_id: str
    cluster_name: str
    namespace: str
    workload: str  # Kind/name
    containers: tuple[ContainerRow, ...]
    replicas: float
    rates: ResourceRates | None  # None: its nodes are unpriced
    samples: int
    span_hours: float
    verdict: Verdict
    confidence: Confidence
    monthly_saving: Decimal | None  # None: unpriced, or nothing to apply
    kubectl: str | None
    manifest: str | None

    @property
    def kind(self) -> str:
        return self.workload.partition("/")[0]

    @property
    def name(self) -> str:
        return self.workload.partition("/")[2]


@dataclass
class _History:
    """One workload container over the window: its sums (from the database) and, hour by hour
    (oldest first), the histograms, OOM kills, requests and limits."""

    totals: dict[str, Any]
    hours: list[tuple[Any, ...]] = field(default_factory=list)  # _HOURLY's columns after the key
    oom_events: set[str] = field(default_factory=set)

    def history(self, container: str) -> ContainerHistory:
        _, _, cpu_request, memory_request, cpu_limit, memory_limit = self.hours[-1]
        totals = self.totals
        return ContainerHistory(
            container=container,
            cpu=histogram_merge(hour[0] for hour in self.hours),
            memory=histogram_merge(hour[1] for hour in self.hours),
            memory_peak_gib=totals["memory_peak"],
            samples=totals["samples"],
            span_hours=(totals["last"] - totals["first"]).total_seconds() / 3600,
            requests=Quantities(cpu_request, memory_request),
            cpu_limit=cpu_limit,
            memory_limit_gib=memory_limit,
            oom_kills=len(self.oom_events),
            cpu_at_limit=totals["cpu_at_limit"],
        )


_KEY = ("cluster_id", "namespace", "workload", "container")
_HOURLY = (
    "cpu_histogram",
    "memory_histogram",
    "cpu_request",
    "memory_request_gib",
    "cpu_limit",
    "memory_limit_gib",
)
_TOTALS = {
    "first": Min("first_sample_at"),
    "last": Max("last_sample_at"),
    "samples": Sum("samples"),
    "memory_peak": Max("memory_peak_gib"),
    "cpu_at_limit": Sum("cpu_at_limit"),
    "cpu_rate_sum": Sum("cpu_rate_sum"),
    "memory_rate_sum": Sum("memory_rate_sum"),
    "priced_samples": Sum("priced_samples"),
}

Workloads = dict[tuple[str, str, str], dict[str, _History]]


def _histories(organization: Organization, since: datetime, cluster_id: str, namespace: str) -> Workloads:
    """The window's rows, summed per workload container in the database; only what cannot be
    summed there (histograms, OOM kills, the latest requests) is read hour by hour. Times are read
    once per container, not per hour: parsing them was most of a week's read."""
    # A compacted day counts when any of it is in the window: a 3- or 7-day window may read up to
    # 23 hours more at its start (the last two days are hourly, so "24h" is exact).
    in_window = Q(hour__gte=since) | Q(whole_day=True, hour__gt=since - timedelta(days=1))
    rows = ContainerUsageHour.objects.filter(in_window, organization=organization)
    if cluster_id:
        rows = rows.filter(cluster_id=cluster_id)
    if namespace:
        rows = rows.filter(namespace=namespace)
    workloads: Workloads = defaultdict(dict)
    for totals in rows.values(*_KEY).annotate(**_TOTALS).order_by(*_KEY):
        key = (str(totals["cluster_id"]), totals["namespace"], totals["workload"])
        workloads[key][totals["container"]] = _History(totals)
    for row in rows.order_by(*_KEY, "hour").values_list(*_KEY, *_HOURLY):
        workloads[(str(row[0]), row[1], row[2])][row[3]].hours.append(row[4:])
    # OOM kills are rare: only the hours that saw one are read for them.
    for *key, events in rows.exclude(oom_events=[]).values_list(*_KEY, "oom_events"):
        workloads[(str(key[0]), key[1], key[2])][key[3]].oom_events.update(events)
    return workloads


def _rates(histories: Iterable[_History]) -> ResourceRates | None:
    """The workload's average allocation rates, each sample weighing the same."""
    totals = [history.totals for history in histories]
    priced = sum(total["priced_samples"] for total in totals)
    if not priced:
        return None
    return ResourceRates(
        cpu=sum(total["cpu_rate_sum"] for total in totals) / priced,
        memory_gib=sum(total["memory_rate_sum"] for total in totals) / priced,
    )


def _replicas(
    organization: Organization, since: datetime, keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], float]:
    """Average pods of each workload since it first ran in the window: its pod-seconds in the ledger
    over its cluster's metered seconds from that hour on (a workload that started yesterday is
    projected at yesterday's replicas, not diluted over the week)."""
    wanted = set(keys)
    hourly = {
        "organization": organization,
        "granularity": Granularity.HOUR,
        "start__gte": since,
        "cluster_id__in": list({key[0] for key in wanted}),
    }
    metered: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for cluster, start, seconds in ClusterRollup.objects.filter(**hourly).values_list(
        "cluster_id", "start", "metered_seconds"
    ):
        metered[str(cluster)].append((start, seconds))
    ran = (
        AllocationRollup.objects.filter(**hourly, idle=False)
        .values("cluster_id", "namespace", "workload")
        .annotate(first=Min("start"), pod_seconds=Sum("pod_seconds"))
        .order_by()
    )
    replicas = {}
    for row in ran:
        key = (str(row["cluster_id"]), row["namespace"], row["workload"])
        if key not in wanted:
            continue
        seconds = sum(amount for start, amount in metered[key[0]] if start >= row["first"])
        replicas[key] = row["pod_seconds"] / seconds if seconds > 0 else 0.0
    return replicas


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _container_row(history: ContainerHistory, rates: ResourceRates | None, replicas: float) -> ContainerRow:
    recommendation = recommend(history)
    saving = None
    if rates is not None and recommendation.recommended is not None:
        saving = _money(monthly_saving(recommendation.change, rates, replicas))
    return ContainerRow(recommendation, (history.cpu_limit, history.memory_limit_gib), saving)


def _verdict(rows: Sequence[ContainerRow]) -> Verdict:
    verdicts = {row.recommendation.verdict for row in rows}
    if Verdict.RESIZE in verdicts:
        return Verdict.RESIZE
    return Verdict.INSUFFICIENT_DATA if Verdict.INSUFFICIENT_DATA in verdicts else Verdict.RIGHT_SIZED


def _snippets(namespace: str, workload: str, rows: Sequence[ContainerRow]) -> tuple[str | None, str | None]:
    changes = [
        ContainerResources(
            row.name,
            row.recommendation.recommended.cpu,
            row.recommendation.recommended.memory_gib,
            row.recommendation.limits[0],
            row.recommendation.limits[1],
        )
        for row in rows
        if row.recommendation.verdict == Verdict.RESIZE and row.recommendation.recommended is not None
    ]
    if not changes:
        return None, None
    return kubectl_patch(namespace, workload, changes), manifest_fragment(namespace, workload, changes)


def _workload(
    key: tuple[str, str, str], containers: dict[str, _History], cluster_name: str, replicas: float
) -> WorkloadRecommendation:
    cluster_id, namespace, workload = key
    rates = _rates(containers.values())
    histories = [history.history(name) for name, history in sorted(containers.items())]
    rows = tuple(_container_row(history, rates, replicas) for history in histories)
    savings = [row.monthly_saving for row in rows if row.monthly_saving is not None]
    verdict = _verdict(rows)
    kubectl, manifest = _snippets(namespace, workload, rows)
    with_data = [row.recommendation.confidence for row in rows if row.recommendation.recommended is not None]
    return WorkloadRecommendation(
        id=recommendation_id(cluster_id, namespace, workload),
        cluster_id=cluster_id,
        cluster_name=cluster_name,
        namespace=namespace,
        workload=workload,
        containers=rows,
        replicas=replicas,
        rates=rates,
        samples=max(history.samples for history in histories),
        span_hours=max(history.span_hours for history in histories),
        verdict=verdict,
        confidence=weakest(with_data) if len(with_data) == len(rows) else Confidence.NONE,
        monthly_saving=sum(savings, Decimal("0.00")) if savings and verdict == Verdict.RESIZE else None,
        kubectl=kubectl,
        manifest=manifest,
    )


def rightsizing_recommendations(
    organization: Organization,
    *,
    now: datetime,
    window: str = DEFAULT_WINDOW,
    cluster_id: str = "",
    namespace: str = "",
    clusters: Mapping[str, Cluster] | None = None,
) -> list[WorkloadRecommendation]:
    """Every workload with usage history in the window, the largest saving first (`clusters`: the
    organization's, by id, when the caller has them already)."""
    # The window's hours end with the current one: "24h" is this hour and the 23 before it.
    since = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1) - WINDOWS[window]
    histories = _histories(organization, since, cluster_id, namespace)
    clusters = organization_clusters(organization) if clusters is None else clusters
    replicas = _replicas(organization, since, histories)
    results = [
        _workload(
            key, containers, clusters[key[0]].name if key[0] in clusters else key[0], replicas.get(key, 0.0)
        )
        for key, containers in histories.items()
    ]
    results.sort(
        key=lambda row: (-(row.monthly_saving or Decimal(0)), row.cluster_name, row.namespace, row.workload)
    )
    return results


def rightsizing_namespaces(organization: Organization) -> list[str]:
    return list(
        ContainerUsageHour.objects.filter(organization=organization)
        .order_by("namespace")
        .values_list("namespace", flat=True)
        .distinct()
    )


@dataclass(frozen=True)
class RightsizingSummary:
    workloads: int
    to_resize: int
    right_sized: int
    insufficient_data: int
    monthly_saving: Decimal  # applying every recommendation (raises subtract)
    unpriced: int  # workloads to resize whose nodes have no known price


def rightsizing_summary(rows: Sequence[WorkloadRecommendation]) -> RightsizingSummary:
    verdicts = [row.verdict for row in rows]
    return RightsizingSummary(
        workloads=len(rows),
        to_resize=verdicts.count(Verdict.RESIZE),
        right_sized=verdicts.count(Verdict.RIGHT_SIZED),
        insufficient_data=verdicts.count(Verdict.INSUFFICIENT_DATA),
        monthly_saving=sum(
            (row.monthly_saving for row in rows if row.monthly_saving is not None), Decimal("0.00")
        ),
        unpriced=sum(1 for row in rows if row.verdict == Verdict.RESIZE and row.monthly_saving is None),
    )
