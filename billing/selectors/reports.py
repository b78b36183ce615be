"""The savings report, spend over time and utilization over time of an organization, for a window.

Three labelled numbers, never merged: actual spend (what the nodes cost, at the prices paid), what
each baseline would have cost for the same pods over the same time, and the difference. How each
baseline is computed is written in `BASELINE_METHODS`, which the page and the API show verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from billing.cluster_prices import cluster_prices
from billing.selectors.usage import (
    BILLED_CAPACITY_TYPES,
    GROUP_FIELDS,
    AllocationSums,
    WindowUsage,
    allocation_sums,
    organization_clusters,
    pod_seconds,
    window_usage,
)
from clusters.models import Cluster
from engines.kube.capacity import CapacityType
from engines.metering import (
    IDLE_GROUP,
    IDLE_LABEL,
    SECONDS_PER_HOUR,
    UNPRICED,
    GroupCosts,
    Quantities,
    SavingsReport,
    SavingsRow,
    StaticPool,
    cheapest_pool,
    pool_pods_cost,
    savings_report,
    serverless_applies,
    share_costs,
)
from engines.metering.windows import ReportWindow, bucket_starts
from tenants.models import Organization

GROUPINGS = {
    "cluster": "Cluster",
    "namespace": "Namespace",
    "workload": "Workload",
    "capacity_type": "Capacity type",
}
DEFAULT_GROUPING = "namespace"
CAPACITY_LABELS = {
    **{kind.value: kind.heading for kind in CapacityType},
    # Nodes metering cannot price are on-prem nodes or types no catalog sells; "No known price"
    # read as a missing figure to fix rather than as a kind of node.
    UNPRICED: "Unpriced (on-prem / unknown type)",
}

BASELINE_METHODS = {
    "actual": (
        "What the nodes cost: every node's seconds in the window times the hourly price your organization "
        "pays for it (list price minus your negotiated discount; spot at its market price). Pods are charged "
        "max(request, usage) of CPU, memory and GPUs at rates split from their node's price (OpenCost's "
        "model); what no pod was charged for is idle capacity, shown apart."
    ),
    "static_pool": (
        "Hand-curated node pools: per cluster, the cheapest single on-demand instance type (current-generation "
        "x86, not burstable; plus one GPU type when GPU pods ran) with enough nodes for the window's peak "
        "requested CPU, memory, GPUs and pod count, running for every metered hour of the window. Packing fragmentation is ignored, so this is "
        "a low estimate of a static pool. What the pods' requests cost of the pool (their core-, GiB- and "
        "GPU-hours at the rates split from a pool node's price) is shared over the groups by their share of "
        "on-demand-priced capacity; the rest is the pool's own idle capacity, in the idle capacity row."
    ),
    "on_demand_only": (
        "On-demand with the same packing — what Nodeless's choices of capacity saved: the same nodes, "
        "launched and removed at the same moments with the same pods on them (and the same idle "
        "capacity), but every one on-demand: each node's seconds times the on-demand price of its "
        "instance type at your discount."
    ),
    "serverless_only": (
        "Every pod alone on the serverless platform (AWS Fargate) for the seconds it ran: its CPU and memory "
        "request plus the platform's memory overhead, rounded up to an allowed Fargate size, at your "
        "serverless discount. Pods no Fargate size holds (GPU pods, very large pods) keep their actual cost, "
        "so every baseline prices the same pods. No node means no idle capacity in this baseline."
    ),
}


def workload_name(namespace: str, workload: str) -> str:
    """How every page names a workload: workload keys ("Deployment/web") are unique only within
    their namespace, so the namespace comes first."""
    return f"{namespace or '(no namespace)'}/{workload}"


class ReportError(ValueError):
    """A grouping the report does not offer."""


def parse_grouping(text: str | None) -> str:
    grouping = (text or DEFAULT_GROUPING).strip()
    if grouping not in GROUPINGS:
        raise ReportError(f"{grouping!r} is not a grouping: use one of {', '.join(GROUPINGS)}.")
    return grouping


_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
MAX_SHARED = 20


def parse_shared(text: str | None) -> tuple[str, ...]:
    """``kube-system, monitoring`` → the namespaces whose costs are shared (none when empty)."""
    names = tuple(dict.fromkeys(part.strip() for part in (text or "").split(",") if part.strip()))
    wrong = [name for name in names if not _NAMESPACE.fullmatch(name)]
    if wrong:
        raise ReportError(f"{wrong[0]!r} is not a namespace name (lowercase letters, digits and '-').")
    if len(names) > MAX_SHARED:
        raise ReportError(f"Share at most {MAX_SHARED} namespaces.")
    return names


@dataclass(frozen=True)
class ClusterPool:
    """The static pool a cluster would have needed for the window, and what it costs."""

    cluster_id: str
    cluster_name: str
    cpu_pool: StaticPool | None  # None: no on-demand type holds the largest pod
    gpu_pool: StaticPool | None
    metered_hours: float
    fallback_cost: float  # the on-demand-only cost, used when a pool cannot be sized
    requested_hours: Quantities = Quantities()  # what the pods requested over the window

    @property
    def sized(self) -> bool:
        return self.cpu_pool is not None and self.gpu_pool is not None

    @property
    def cost_per_hour(self) -> float:
        if self.cpu_pool is None or self.gpu_pool is None:
            return self.fallback_cost / self.metered_hours if self.metered_hours else 0.0
        return self.cpu_pool.cost_per_hour + self.gpu_pool.cost_per_hour

    @property
    def cost(self) -> float:
        return self.cost_per_hour * self.metered_hours

    @property
    def pods_cost(self) -> float | None:
        """What the pods' requests cost of the pool; the rest is the pool's own idle capacity (None:
        the pool could not be sized, and the on-demand-only cost stands in for it row by row)."""
        if self.cpu_pool is None or self.gpu_pool is None:
            return None
        return min(pool_pods_cost(self.cpu_pool, self.gpu_pool, self.requested_hours), self.cost)


def static_pools(clusters: Mapping[str, Cluster], usage: WindowUsage) -> dict[str, ClusterPool]:
    """Each metered cluster's pool for the window's peak, at its organization's prices."""
    pools = {}
    for cluster_id, totals in usage.clusters.items():
        cluster = clusters.get(cluster_id)
        if cluster is None:
            continue
        cpu, gpu = totals.cpu_pool, totals.gpu_pool
        candidates = cluster_prices(cluster).pool_table() if not (cpu.empty and gpu.empty) else ()
        pools[cluster_id] = ClusterPool(
            cluster_id,
            cluster.name,
            cheapest_pool(cpu, candidates),
            cheapest_pool(gpu, candidates),
            totals.metered_seconds / SECONDS_PER_HOUR,
            totals.on_demand_cost,
            totals.requested_hours,
        )
    return pools


@dataclass(frozen=True)
class SeriesPoint:
    """One chart bucket: spend by capacity type, the baselines, and resource hours."""

    start: datetime
    spend_by_capacity: dict[str, float]
    actual: float
    static_pool: float
    on_demand_only: float
    serverless_only: float | None  # None: no pod of the window fits a serverless shape
    cpu_requested: float  # core-hours
    cpu_used: float
    cpu_allocatable: float
    memory_requested: float  # GiB-hours
    memory_used: float
    memory_allocatable: float
    metered: bool = True  # False: no cluster was metered in the bucket (every figure is zero)

    @staticmethod
    def share(part: float, whole: float) -> float | None:
        return None if whole <= 0 else 100.0 * part / whole

    @property
    def cpu_requested_pct(self) -> float | None:
        return self.share(self.cpu_requested, self.cpu_allocatable)

    @property
    def cpu_used_pct(self) -> float | None:
        return self.share(self.cpu_used, self.cpu_allocatable)

    @property
    def memory_requested_pct(self) -> float | None:
        return self.share(self.memory_requested, self.memory_allocatable)

    @property
    def memory_used_pct(self) -> float | None:
        return self.share(self.memory_used, self.memory_allocatable)


def _point(
    start: datetime,
    sums: Mapping[str, float],
    static_pool: float,
    *,
    metered: bool = True,
    serverless_applies: bool = True,
) -> SeriesPoint:
    hours = SECONDS_PER_HOUR
    return SeriesPoint(
        start=start,
        spend_by_capacity={kind: sums.get(f"{kind}_node_cost", 0.0) for kind in BILLED_CAPACITY_TYPES},
        actual=sums.get("node_cost", 0.0),
        static_pool=static_pool,
        on_demand_only=sums.get("on_demand_cost", 0.0),
        serverless_only=sums.get("serverless_cost", 0.0) if serverless_applies else None,
        cpu_requested=sums.get("cpu_requested", 0.0) / hours,
        cpu_used=sums.get("cpu_used", 0.0) / hours,
        cpu_allocatable=sums.get("cpu_allocatable", 0.0) / hours,
        memory_requested=sums.get("memory_requested", 0.0) / hours,
        memory_used=sums.get("memory_used", 0.0) / hours,
        memory_allocatable=sums.get("memory_allocatable", 0.0) / hours,
        metered=metered,
    )


def usage_series(
    window: ReportWindow,
    usage: WindowUsage,
    pools: Mapping[str, ClusterPool],
    *,
    serverless_applies: bool = True,
) -> list[SeriesPoint]:
    """One point per bucket of the window, empty buckets included (charts need every x). A cluster's
    pool costs its hourly price for every hour it was metered in the bucket. Without
    `serverless_applies` (no pod of the window fits a serverless shape) the serverless baseline is
    left out of every point, as it is from the window's total."""
    rates = {cluster_id: pool.cost_per_hour / SECONDS_PER_HOUR for cluster_id, pool in pools.items()}
    static: dict[datetime, float] = {}
    for bucket, cluster_id, seconds in usage.metered:
        if cluster_id in rates:
            static[bucket] = static.get(bucket, 0.0) + rates[cluster_id] * seconds
    sums = {row.bucket: row.sums for row in usage.buckets}
    return [
        _point(
            start,
            sums.get(start, {}),
            static.get(start, 0.0),
            metered=start in sums,
            serverless_applies=serverless_applies,
        )
        for start in bucket_starts(window)
    ]


def window_totals(window: ReportWindow, usage: WindowUsage, pools: Mapping[str, ClusterPool]) -> SeriesPoint:
    """The whole window as one point (the headline numbers)."""
    sums: dict[str, float] = {}
    for row in usage.buckets:
        for name, value in row.sums.items():
            sums[name] = sums.get(name, 0.0) + value
    return _point(window.start, sums, sum(pool.cost for pool in pools.values()))


def _group_costs(
    grouping: str, rows: Iterable[AllocationSums], clusters: Mapping[str, Cluster]
) -> list[GroupCosts]:
    out = []
    for row in rows:
        keys = row.keys
        idle = bool(keys.get("idle", False))
        if grouping == "cluster":
            cluster = clusters.get(row.cluster_id)
            group, label = row.cluster_id, cluster.name if cluster else row.cluster_id
        elif grouping == "capacity_type":
            kind = keys["capacity_type"]
            group, label = kind, CAPACITY_LABELS.get(kind, kind)
        elif grouping == "namespace":
            group = label = keys["namespace"] or "(no namespace)"
        else:
            group = label = workload_name(keys["namespace"], keys["workload"])
        if idle:
            group, label = IDLE_GROUP, IDLE_LABEL
        out.append(
            GroupCosts(
                row.cluster_id,
                group,
                label,
                idle,
                row.cost,
                row.on_demand_cost,
                row.serverless_cost,
                row.extra["pod_seconds"],
                row.extra["serverless_unfit_pod_seconds"],
            )
        )
    return out


@dataclass(frozen=True)
class Report:
    window: ReportWindow
    grouping: str
    savings: SavingsReport
    pools: list[ClusterPool]
    series: list[SeriesPoint]
    usage_measured: bool  # some pod usage came from a metrics source (else used = requested)
    has_data: bool
    has_clusters: bool

    @property
    def total(self) -> SavingsRow:
        return self.savings.total

    @property
    def grouping_label(self) -> str:
        return GROUPINGS[self.grouping]


def _shared(grouping: str, namespaces: Collection[str]) -> Callable[[str], bool] | None:
    """Which rows of the grouping belong to the shared namespaces (OpenCost's ``shareNamespaces``):
    a namespace row by its name, a workload row by its namespace; other groupings have none."""
    wanted = frozenset(namespaces)
    if not wanted:
        return None
    if grouping == "namespace":
        return wanted.__contains__
    if grouping == "workload":
        return lambda group: group.split("/", 1)[0] in wanted
    return None


def report(
    organization: Organization, window: ReportWindow, grouping: str, shared_namespaces: Collection[str] = ()
) -> Report:
    """Everything the Reports page, its CSV exports and the reports API show (three queries). The
    costs of ``shared_namespaces`` are spread over the other groups (by namespace or workload)."""
    clusters = organization_clusters(organization)
    usage = window_usage(organization, window)
    pools = static_pools(clusters, usage)
    groups = allocation_sums(organization, window.start, window.end, GROUP_FIELDS[grouping])
    savings = savings_report(
        _group_costs(grouping, groups, clusters),
        {cluster_id: pool.cost for cluster_id, pool in pools.items()},
        {cluster_id: pool.pods_cost for cluster_id, pool in pools.items()},
    )
    is_shared = _shared(grouping, shared_namespaces)
    if is_shared is not None:
        savings = share_costs(savings, is_shared)
    return Report(
        window=window,
        grouping=grouping,
        savings=savings,
        pools=sorted(pools.values(), key=lambda pool: pool.cluster_name),
        series=usage_series(window, usage, pools, serverless_applies=savings.total.serverless_applies),
        usage_measured=any(totals.usage_measured_seconds > 0 for totals in usage.clusters.values()),
        has_data=usage.has_data,
        has_clusters=bool(clusters),
    )


@dataclass(frozen=True)
class UsageOverTime:
    window: ReportWindow
    points: list[SeriesPoint]
    usage_measured: bool


def usage_over_time(organization: Organization, window: ReportWindow) -> UsageOverTime:
    """Spend (with the baselines) and utilization per bucket, without the per-group sums (three queries)."""
    usage = window_usage(organization, window)
    pools = static_pools(organization_clusters(organization), usage)
    applies = serverless_applies(*pod_seconds(organization, window.start, window.end))
    return UsageOverTime(
        window,
        usage_series(window, usage, pools, serverless_applies=applies),
        any(totals.usage_measured_seconds > 0 for totals in usage.clusters.values()),
    )
