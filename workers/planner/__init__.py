"""The Nodeless planner: pure, no Django, no I/O (enforced by `.importlinter`).

Call `plan(snapshot, policy, catalog)`; build catalogs with `billing.pricing` (real cloud
data) or `workers.planner.testing` (Karpenter's synthetic benchmark catalog).
"""

from workers.planner.catalog import (
    Catalog,
    Discount,
    InstanceType,
    Offering,
    ServerlessPricing,
    ServerlessShape,
)
from workers.planner.engine import plan
from workers.planner.labels import (
    LabelSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Operator,
    Taint,
    TaintEffect,
    Toleration,
    TolerationOperator,
)
from workers.planner.policy import (
    InstanceRequirements,
    IsolationRules,
    Limits,
    Objective,
    Packing,
    PlannerPolicy,
)
from workers.planner.resources import Resources
from workers.planner.results import (
    Binding,
    Decision,
    Launch,
    OfferingChoice,
    Plan,
    Unschedulable,
    UnschedulableCode,
)
from workers.planner.types import CapacityType, ExistingNode, PodRequest, Snapshot

__all__ = [
    "Binding",
    "CapacityType",
    "Catalog",
    "Decision",
    "Discount",
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
