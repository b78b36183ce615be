"""Replay: pods with known lifetimes run through the planner in simulated time, every node
metered at per-second billing with a minimum charge (pure: no Django, no I/O). The lab replays
public traces with it (`lab.replay.loader` reads them); the product replays a cluster's recorded
ledger with a draft policy (`engines.replay.ledger`, `billing.services.replay`).

- `replay(pods, catalog, policy, timing)` -> `ReplayResult`: cost, node-seconds and cost by
  capacity type, an hourly cost series, every metered node, and the pods that could not run.
- `savings_baselines(...)`: static peak-sized on-demand pool, on-demand only, serverless only.
- `lower_bound(...)` (or `bound_windows` + `distinct_pools` + `integrate_bound` to spread the
  planner calls over cores): the planner's LP bound integrated over time, a lower bound on
  any schedule of the pods.
"""

from engines.replay.baselines import (
    SavingsBaselines,
    StaticPool,
    peak_moments,
    savings_baselines,
    split_placeable,
    static_pool,
    with_capacity_types,
)
from engines.replay.bounds import (
    BoundWindow,
    LowerBound,
    Pool,
    bound_windows,
    distinct_pools,
    integrate_bound,
    lower_bound,
    pool_bound_per_hour,
)
from engines.replay.consolidation import Consolidation
from engines.replay.engine import replay
from engines.replay.model import CapacityUsage, CostSeries, MeteredNode, ReplayPod, ReplayResult, Timing

__all__ = [
    "BoundWindow",
    "CapacityUsage",
    "Consolidation",
    "CostSeries",
    "LowerBound",
    "MeteredNode",
    "Pool",
    "ReplayPod",
    "ReplayResult",
    "SavingsBaselines",
    "StaticPool",
    "Timing",
    "bound_windows",
    "distinct_pools",
    "integrate_bound",
    "lower_bound",
    "peak_moments",
    "pool_bound_per_hour",
    "replay",
    "savings_baselines",
    "split_placeable",
    "static_pool",
    "with_capacity_types",
]
