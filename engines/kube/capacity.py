"""How a node is bought: on-demand, spot or serverless. The one spelling of the concept in the product.

Each cloud and tool spells it its own way on the wire and on nodes — EC2 says "on-demand", Karpenter
labels nodes `karpenter.sh/capacity-type: on-demand`, EKS managed node groups
`eks.amazonaws.com/capacityType: ON_DEMAND`, Fargate nodes carry
`eks.amazonaws.com/compute-type: fargate`. Those spellings are translated here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

KARPENTER_LABEL = "karpenter.sh/capacity-type"
EKS_NODEGROUP_LABEL = "eks.amazonaws.com/capacityType"
EKS_COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
NODELESS_LABEL = "nodeless.io/capacity-type"
GKE_SPOT_LABEL = "cloud.google.com/gke-spot"


class CapacityType(StrEnum):
    ON_DEMAND = "on_demand"
    SPOT = "spot"
    SERVERLESS = "serverless"

    @property
    def label(self) -> str:
        """How a sentence for people names it ("on-demand", not the code name)."""
        return self.value.replace("_", "-")

    @property
    def heading(self) -> str:
        """How a heading, a legend or a table names it ("On-demand")."""
        return self.label.capitalize()

    @property
    def aws_value(self) -> str:
        """The spelling AWS and Karpenter use ("on-demand", "spot"): EC2 market and target capacity
        types, and the `karpenter.sh/capacity-type` node label."""
        return self.value.replace("_", "-")

    @property
    def is_instance(self) -> bool:
        """Bought as a VM Nodeless launches (serverless capacity is a pod, not an instance)."""
        return self is not CapacityType.SERVERLESS

    @classmethod
    def parse(cls, text: str) -> CapacityType:
        """Any spelling of a capacity type ("on-demand", "ON_DEMAND", "spot", "fargate"); ValueError
        for anything else."""
        folded = text.strip().lower().replace("-", "_")
        if folded == "fargate":
            return cls.SERVERLESS
        return cls(folded)

    @classmethod
    def of_node(cls, labels: Mapping[str, str]) -> CapacityType | None:
        """What a node's labels say it is; None when they say nothing."""
        if labels.get(EKS_COMPUTE_TYPE_LABEL) == "fargate":
            return cls.SERVERLESS
        for key in (KARPENTER_LABEL, NODELESS_LABEL, EKS_NODEGROUP_LABEL):
            value = labels.get(key)
            if value:
                try:
                    return cls.parse(value)
                except ValueError:
                    return None
        if labels.get(GKE_SPOT_LABEL) == "true":
            return cls.SPOT
        return None
