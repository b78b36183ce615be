"""Metering and savings arithmetic: pure, no Django, no I/O (the database side is in
`billing.services` and `billing.selectors`).

    usage = meter_interval(Interval(t0, t0 + 60), nodes, pods)   # node cost, allocation, idle, samples
    pool = cheapest_pool(peak_demand, prices.pool_candidates())   # the static-pool baseline
    report = savings_report(group_costs, static_pool_costs)
"""

from engines.metering.allocation import meter_interval, pod_cost_per_hour
from engines.metering.model import (
    CAPACITY_TYPES,
    SECONDS_PER_HOUR,
    UNPRICED,
    Allocation,
    Interval,
    IntervalUsage,
    NodeCost,
    NodeSample,
    PodSample,
    PoolDemand,
    Quantities,
    ResourceSeconds,
)
from engines.metering.pools import NO_POOL, PoolCandidate, StaticPool, cheapest_pool, pool_pods_cost
from engines.metering.prices import CatalogPrices, offering_from_labels
from engines.metering.rates import ResourceRates, split_node_price
from engines.metering.report import (
    IDLE_GROUP,
    IDLE_LABEL,
    GroupCosts,
    SavingsReport,
    SavingsRow,
    projected_month_end,
    savings_report,
    serverless_applies,
    share_costs,
)
from engines.metering.windows import ReportWindow, WindowError, parse_window, rollup_ranges

__all__ = [
    "CAPACITY_TYPES",
    "IDLE_GROUP",
    "IDLE_LABEL",
    "NO_POOL",
    "ON_DEMAND",
    "SECONDS_PER_HOUR",
    "SERVERLESS",
    "SPOT",
    "UNPRICED",
    "Allocation",
    "CatalogPrices",
    "GroupCosts",
    "Interval",
    "IntervalUsage",
    "NodeCost",
    "NodeSample",
    "PodSample",
    "PoolCandidate",
    "PoolDemand",
    "Quantities",
    "ReportWindow",
    "ResourceRates",
    "ResourceSeconds",
    "SavingsReport",
    "SavingsRow",
    "StaticPool",
    "WindowError",
    "cheapest_pool",
    "meter_interval",
    "offering_from_labels",
    "pod_cost_per_hour",
    "parse_window",
    "projected_month_end",
    "rollup_ranges",
    "pool_pods_cost",
    "savings_report",
    "serverless_applies",
    "share_costs",
    "split_node_price",
]
