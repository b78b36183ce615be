"""Trace replay: pods with known lifetimes run through the planner in simulated time, every
node metered at per-second billing with a minimum charge (pure: no Django, no I/O; the trace
loader in `lab.replay.loader` is the one part that reads files).

- `replay(pods, catalog, policy, timing)` -> `ReplayResult`: cost, node-seconds and cost by
  capacity type, an hourly cost series, every metered node, and the pods that could not run.
- `savings_baselines(...)`: static peak-sized on-demand pool, on-demand only, serverless only.
- `lower_bound(...)` (or `bound_windows` + `distinct_pools` + `integrate_bound` to spread the
  planner calls over cores): the planner's LP bound integrated over time, a lower bound on
  any schedule of the pods.
"""

from lab.replay.baselines import (
    SavingsBaselines,
    StaticPool,
    peak_moments,
    savings_baselines,
    split_placeable,
    static_pool,
    with_capacity_types,
)
from lab.replay.bounds import (
    BoundWindow,
    LowerBound,
    Pool,
    bound_windows,
    distinct_pools,
    integrate_bound,
    lower_bound,
    pool_bound_per_hour,
)
from lab.replay.consolidation import Consolidation
from lab.replay.engine import replay
from lab.replay.model import CapacityUsage, CostSeries, MeteredNode, ReplayPod, ReplayResult, Timing

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
