"""Policies (provisioning and federation), federated workloads and their placements, and the
decisions the engines made under them."""

from __future__ import annotations

from policies.models.decisions import Decision, DecisionKind
from policies.models.federation import (
    FailureBehaviour,
    FederationPolicy,
    Placement,
    PlacementState,
    Workload,
    WorkloadKind,
    WorkloadStatus,
)
from policies.models.kubeapi import KubeCounter, KubeEvent, KubeObject, KubeRevision, Propagation
from policies.models.provisioning import (
    CapacityTypeChoice,
    ObjectiveChoice,
    PackingChoice,
    ProvisioningPolicy,
    ProvisioningPolicyRevision,
)

__all__ = [
    "CapacityTypeChoice",
    "Decision",
    "DecisionKind",
    "FailureBehaviour",
    "FederationPolicy",
    "KubeCounter",
    "KubeEvent",
    "KubeObject",
    "KubeRevision",
    "ObjectiveChoice",
    "PackingChoice",
    "Placement",
    "PlacementState",
    "Propagation",
    "ProvisioningPolicy",
    "ProvisioningPolicyRevision",
    "Workload",
    "WorkloadKind",
    "WorkloadStatus",
]
