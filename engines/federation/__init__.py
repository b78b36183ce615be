"""Federation scheduler engine: which member clusters run a workload, and how many replicas each.

Pure: frozen dataclasses in, immutable records out; no Django, no I/O, no clock, no randomness.
The federation loop (Celery) builds the inputs from the database and cluster snapshots, calls
``schedule`` for every new or changed workload, stores ``result.decision.as_dict()`` as the
Decision row and applies ``result.changes()`` (cluster id → replicas to add or remove).

Typical loop pass::

    fleet = Fleet(snapshots, egress_table)            # once per pass
    for workload, policy, current in changed:
        result = schedule(workload, policy, fleet, current, avoid=failed, keep_current=sticky)
        fleet = fleet.charge(result.changes(), workload.requests)   # in-flight accounting

Failure handling stays in the loop: ``avoid`` lists clusters it gave up on (unreachable past the
grace period, placements failing repeatedly: their replicas move); ``keep_current=True`` keeps
replicas on unhealthy or unreachable members where they are (sticky, or within the grace period).

Strategies: cheapest, most_capacity, spread (static or capacity weights, by cluster/region/cloud),
duplicate, fill_then_burst (ordered tiers, with return), pinned. Weighted division uses the
Webster (Sainte-Laguë) method with per-workload stable ties (``division``). Policies validate on
construction and raise ``PolicyError`` naming the field, for the policy form and API.
"""

from engines.federation.decision import ClusterScore, Decision, Outcome, ScheduleResult
from engines.federation.division import webster
from engines.federation.egress import DEFAULT_EGRESS_TABLE, EgressCategory, EgressTable, egress_category
from engines.federation.engine import schedule, timeless
from engines.federation.fleet import FilterReason, Fleet
from engines.federation.model import (
    ClusterMode,
    ClusterSnapshot,
    CurrentPlacement,
    Location,
    NodelessPricing,
    NodeShape,
    ObservePricing,
    Resources,
    WorkloadKind,
    WorkloadSpec,
)
from engines.federation.policy import (
    ANY_CLUSTER,
    AssignmentMode,
    BurstSettings,
    ClusterSelector,
    LabelExpression,
    PlacementPolicy,
    PolicyError,
    SpreadBy,
    SpreadSettings,
    Strategy,
    WeightMode,
    WeightRule,
)
from engines.federation.pricing import PackingCost
from engines.kube.labels import Operator

__all__ = [
    "ANY_CLUSTER",
    "DEFAULT_EGRESS_TABLE",
    "AssignmentMode",
    "BurstSettings",
    "ClusterMode",
    "ClusterScore",
    "ClusterSelector",
    "ClusterSnapshot",
    "CurrentPlacement",
    "Decision",
    "EgressCategory",
    "EgressTable",
    "FilterReason",
    "Fleet",
    "LabelExpression",
    "Location",
    "NodeShape",
    "NodelessPricing",
    "ObservePricing",
    "Operator",
    "Outcome",
    "PackingCost",
    "PlacementPolicy",
    "PolicyError",
    "Resources",
    "ScheduleResult",
    "SpreadBy",
    "SpreadSettings",
    "Strategy",
    "WeightMode",
    "WeightRule",
    "WorkloadKind",
    "WorkloadSpec",
    "egress_category",
    "schedule",
    "timeless",
    "webster",
]
