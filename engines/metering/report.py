"""The savings report: actual spend, three baselines for the same pods and time, and the difference.

Inputs are sums over a window, read from the rollups: per (cluster, group) what the pods cost, what
they would have cost on on-demand nodes packed the same way, and alone on serverless; and per
cluster what its static pool costs for the window (`pools.cheapest_pool` at the window's peak,
times the metered hours). `savings_report`:

1. sums actual, on-demand-only and serverless-only costs per group; idle capacity is one row of its
   own whatever the grouping, so every grouping shows the same idle figure and the same total;
2. splits each cluster's static-pool cost in two, so every baseline carries its own idle: what the
   pods' requests cost of the pool (`pool_pods_cost`) goes over its groups in proportion to their
   on-demand-only cost (their share of the capacity, priced alike), and the rest — the pool's own
   idle capacity — to the cluster's idle row. A cluster whose pool could not be sized (its pods'
   share unknown) prices every row, idle included, at its on-demand-only cost; a cluster whose pods
   have no such cost gives its pool to its idle capacity;
3. adds the rows up into the total, so the rows of every table sum to the headline numbers.

So the idle row compares like with like: the idle capacity Nodeless's nodes had, against the idle
capacity of the same nodes on-demand and of the static pool. Serverless has no idle capacity (a pod
alone is billed for its own size), so the idle row's serverless baseline is zero and its saving
against serverless is negative by construction: the pages say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

IDLE_GROUP = "__idle__"
IDLE_LABEL = "Idle capacity"


@dataclass(frozen=True, slots=True)
class GroupCosts:
    """One group's sums in one cluster over the window."""

    cluster_id: str
    group: str
    label: str
    idle: bool
    cost: float
    on_demand_cost: float
    serverless_cost: float
    pod_seconds: float = 0.0
    serverless_unfit_pod_seconds: float = 0.0


def serverless_applies(pod_seconds: float, unfit_pod_seconds: float) -> bool:
    """False when pods ran and none fits a serverless shape: each keeps its actual cost there, so
    the serverless baseline would only measure idle capacity, not a choice of platform."""
    return pod_seconds <= 0 or pod_seconds - unfit_pod_seconds > 0


@dataclass(frozen=True, slots=True)
class SavingsRow:
    group: str
    label: str
    actual: float
    static_pool: float
    on_demand_only: float
    serverless_only: float
    pod_seconds: float = 0.0
    serverless_unfit_pod_seconds: float = 0.0  # of `pod_seconds`: pods no serverless shape holds

    @property
    def serverless_fit_pod_seconds(self) -> float:
        return max(self.pod_seconds - self.serverless_unfit_pod_seconds, 0.0)

    @property
    def serverless_applies(self) -> bool:
        return serverless_applies(self.pod_seconds, self.serverless_unfit_pod_seconds)

    @property
    def serverless_partial(self) -> bool:
        """Some pods fit a serverless shape, some keep their actual cost."""
        return self.serverless_unfit_pod_seconds > 0 and self.serverless_fit_pod_seconds > 0

    @property
    def versus_static_pool(self) -> float:
        return self.static_pool - self.actual

    @property
    def versus_on_demand_only(self) -> float:
        return self.on_demand_only - self.actual

    @property
    def versus_serverless_only(self) -> float:
        return self.serverless_only - self.actual

    @staticmethod
    def percent(saved: float, baseline: float) -> float | None:
        """Savings as a share of the baseline, in percent (None without a baseline)."""
        return None if baseline <= 0 else 100.0 * saved / baseline

    @property
    def versus_static_pool_pct(self) -> float | None:
        return self.percent(self.versus_static_pool, self.static_pool)

    @property
    def versus_on_demand_only_pct(self) -> float | None:
        return self.percent(self.versus_on_demand_only, self.on_demand_only)

    @property
    def versus_serverless_only_pct(self) -> float | None:
        return self.percent(self.versus_serverless_only, self.serverless_only)

    def scaled(self, factor: float) -> SavingsRow:
        """The row's figures times ``factor`` (its name kept): a share of it."""
        return SavingsRow(
            self.group,
            self.label,
            self.actual * factor,
            self.static_pool * factor,
            self.on_demand_only * factor,
            self.serverless_only * factor,
            self.pod_seconds * factor,
            self.serverless_unfit_pod_seconds * factor,
        )

    def __add__(self, other: SavingsRow) -> SavingsRow:
        return SavingsRow(
            self.group,
            self.label,
            self.actual + other.actual,
            self.static_pool + other.static_pool,
            self.on_demand_only + other.on_demand_only,
            self.serverless_only + other.serverless_only,
            self.pod_seconds + other.pod_seconds,
            self.serverless_unfit_pod_seconds + other.serverless_unfit_pod_seconds,
        )


@dataclass(frozen=True, slots=True)
class SavingsReport:
    rows: tuple[SavingsRow, ...]  # dearest first, idle capacity last
    total: SavingsRow
    shared: tuple[str, ...] = ()  # the labels of the rows `share_costs` spread over the others


def _idle_weights(rows: Sequence[tuple[int, GroupCosts]]) -> dict[int, float]:
    targets = [(index, row) for index, row in rows if row.idle] or list(rows)
    costs = {index: row.cost for index, row in targets if row.cost > 0}
    return costs or {index: 1.0 for index, _ in targets}


def _spread(amount: float, weights: Mapping[int, float], shares: list[float]) -> None:
    total = sum(weights.values())
    if amount <= 0 or total <= 0:
        return
    for index, weight in weights.items():
        # The weight's fraction first: amount * weight can round away when the weight is tiny
        # (1.5 * 5e-324 is 1e-323), so the pieces would not add up to the amount.
        shares[index] += amount * (weight / total)


def _cluster_shares(
    rows: Sequence[tuple[int, GroupCosts]], pool: float, pods_part: float | None, shares: list[float]
) -> None:
    """One cluster's static pool over its rows (step 2)."""
    if pods_part is None:  # the pods' share is unknown: every row at its on-demand-only cost
        weights = {index: row.on_demand_cost for index, row in rows if row.on_demand_cost > 0}
        _spread(pool, weights or _idle_weights(rows), shares)
        return
    pods = {index: row.on_demand_cost for index, row in rows if not row.idle and row.on_demand_cost > 0}
    pods_part = min(max(pods_part, 0.0), pool) if pods else 0.0
    _spread(pods_part, pods, shares)
    _spread(pool - pods_part, _idle_weights(rows), shares)


def _static_shares(
    groups: Sequence[GroupCosts],
    static_pool_costs: Mapping[str, float],
    static_pods_costs: Mapping[str, float | None],
) -> list[float]:
    by_cluster: dict[str, list[tuple[int, GroupCosts]]] = {}
    for index, row in enumerate(groups):
        by_cluster.setdefault(row.cluster_id, []).append((index, row))
    shares = [0.0] * len(groups)
    for cluster_id, rows in by_cluster.items():
        pool = static_pool_costs.get(cluster_id, 0.0)
        if pool > 0:
            _cluster_shares(rows, pool, static_pods_costs.get(cluster_id, pool), shares)
    return shares


def savings_report(
    groups: Iterable[GroupCosts],
    static_pool_costs: Mapping[str, float],
    static_pods_costs: Mapping[str, float | None] | None = None,
) -> SavingsReport:
    """See the module docstring: idle rows, whichever group they came from, are gathered in one
    "Idle capacity" row. `static_pods_costs[cluster]` is what its pods' requests cost of its pool
    (None: unknown, left out: all of the pool)."""
    rows_in = list(groups)
    # A cluster with a pool but no idle row still has to show the pool's idle: give it one.
    with_idle = {row.cluster_id for row in rows_in if row.idle}
    missing = sorted(set(static_pool_costs) - with_idle)
    rows_in += [
        GroupCosts(
            cluster_id, IDLE_GROUP, IDLE_LABEL, idle=True, cost=0.0, on_demand_cost=0.0, serverless_cost=0.0
        )
        for cluster_id in missing
    ]
    merged: dict[str, SavingsRow] = {}
    shares = _static_shares(rows_in, static_pool_costs, static_pods_costs or {})
    for row, static in zip(rows_in, shares, strict=True):
        key, label = (IDLE_GROUP, IDLE_LABEL) if row.idle else (row.group, row.label)
        piece = SavingsRow(
            key,
            label,
            row.cost,
            static,
            row.on_demand_cost,
            row.serverless_cost,
            row.pod_seconds,
            row.serverless_unfit_pod_seconds,
        )
        merged[key] = merged[key] + piece if key in merged else piece
    rows = sorted(merged.values(), key=lambda r: (r.group == IDLE_GROUP, -r.actual, r.label))
    total = SavingsRow("__total__", "Total", 0.0, 0.0, 0.0, 0.0)
    for merged_row in rows:
        total = total + merged_row
    return SavingsReport(tuple(rows), total)


def share_costs(report: SavingsReport, is_shared: Callable[[str], bool]) -> SavingsReport:
    """OpenCost's shared costs: the rows whose group ``is_shared`` (a namespace such as kube-system,
    whose pods serve every team) are spread over the other rows in proportion to their actual
    spend, every column alike (actual, each baseline, pod time), so each team carries its part of
    what it relies on and the total is unchanged. Idle capacity stays its own row. With nothing to
    share, or no spend to weigh it by, the report is returned as it was."""
    sharing = [row for row in report.rows if row.group != IDLE_GROUP and is_shared(row.group)]
    receiving = [row for row in report.rows if row.group != IDLE_GROUP and not is_shared(row.group)]
    weight = sum(row.actual for row in receiving)
    if not sharing or weight <= 0:
        return report
    pooled = SavingsRow("__shared__", "Shared", 0.0, 0.0, 0.0, 0.0)
    for row in sharing:
        pooled = pooled + row
    idle = [row for row in report.rows if row.group == IDLE_GROUP]
    shared_out = [row + pooled.scaled(row.actual / weight) for row in receiving]
    rows = sorted(shared_out, key=lambda r: (-r.actual, r.label)) + idle
    total = SavingsRow("__total__", "Total", 0.0, 0.0, 0.0, 0.0)
    for row in rows:
        total = total + row
    return SavingsReport(tuple(rows), total, tuple(row.label for row in sharing))


def projected_month_end(
    month_to_date: float, recent_spend: float, recent_hours: float, hours_left: float
) -> float:
    """Month-to-date spend plus the rest of the month at the recent hourly rate."""
    if recent_hours <= 0:
        return month_to_date
    return month_to_date + recent_spend / recent_hours * max(hours_left, 0.0)
