"""The Nodeless planner: pure, no Django, no I/O (enforced by `.importlinter`).

    catalog = clusters.pricing.build_aws_catalog("us-east-1").with_discount(Discount(spot_pct=10))
    result = plan(Snapshot(pods=(PodRequest(uid="u1", name="web-1", requests=Resources(500, 512)),)),
                  PlannerPolicy(), catalog)
    result.launches[0].offerings   # ordered fallbacks, cheapest effective price first
    result.lp_lower_bound          # no plan for the placed pods can cost less per hour

Inputs are frozen dataclasses (`types`, `policy`, `catalog`); the output is a frozen `Plan`
(`results`). Catalogs come from `clusters.pricing` (real cloud data) or `lab.planner.testing`
(Karpenter's synthetic benchmark catalog); `lab.planner.baseline.karpenter_plan` is Karpenter's
algorithm on the same inputs, the baseline the benchmark compares against.
"""

from engines.kube.capacity import CapacityType
from engines.kube.labels import (
    LabelSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Operator,
    Taint,
    TaintEffect,
    Toleration,
    TolerationOperator,
)
from engines.kube.resources import Resources
from engines.planner.catalog import (
    Catalog,
    Discount,
    InstanceType,
    Offering,
    ServerlessPricing,
    ServerlessShape,
)
from engines.planner.engine import plan
from engines.planner.exact import ExactBudget
from engines.planner.policy import (
    Exclusions,
    InstanceRequirements,
    IsolationRules,
    Limits,
    Objective,
    Packing,
    PlannerPolicy,
)
from engines.planner.results import (
    Binding,
    Decision,
    Launch,
    OfferingChoice,
    Plan,
    Unschedulable,
    UnschedulableCode,
)
from engines.planner.types import ExistingNode, PodRequest, Snapshot

__all__ = [
    "Binding",
    "CapacityType",
    "Catalog",
    "Decision",
    "Discount",
    "ExactBudget",
    "Exclusions",
    "ExistingNode",
    "InstanceRequirements",
    "InstanceType",
    "IsolationRules",
    "LabelSelector",
    "Launch",
    "Limits",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "Objective",
    "Offering",
    "OfferingChoice",
    "Operator",
    "Packing",
    "Plan",
    "PlannerPolicy",
    "PodRequest",
    "Resources",
    "ServerlessPricing",
    "ServerlessShape",
    "Snapshot",
    "Taint",
    "TaintEffect",
    "Toleration",
    "TolerationOperator",
    "Unschedulable",
    "UnschedulableCode",
    "plan",
]
