"""The provisioning policy as the planner consumes it (SPEC section 2, ProvisioningPolicy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from engines.kube.capacity import CapacityType
from engines.kube.labels import LabelSelector, Taint
from engines.planner.types import PodRequest


class Objective(StrEnum):
    """How much a spot offering's expected interruption cost weighs against its price."""

    COST = "cost"
    BALANCED = "balanced"
    AVAILABILITY = "availability"


# Multiplier on the catalog's expected interruption cost when ranking offerings: `cost` takes
# the expectation at face value, the others pay progressively more to avoid interruptions.
INTERRUPTION_WEIGHT: Mapping[Objective, float] = {
    Objective.COST: 1.0,
    Objective.BALANCED: 2.0,
    Objective.AVAILABILITY: 4.0,
}


class Packing(StrEnum):
    PACK = "pack"
    ISOLATE = "isolate"


@dataclass(frozen=True, slots=True)
class InstanceRequirements:
    """Which instance types new nodes may use. Empty sets and None bounds mean 'no restriction'."""

    families_allow: frozenset[str] = frozenset()
    families_deny: frozenset[str] = frozenset()
    architectures: frozenset[str] = frozenset()
    current_generation_only: bool = False
    min_vcpu: int | None = None
    max_vcpu: int | None = None
    min_memory_mib: int | None = None
    max_memory_mib: int | None = None
    gpu_models: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class IsolationRules:
    """Rules that give a pod a node of its own (bin-selection), whatever the packing mode."""

    namespaces: frozenset[str] = frozenset()
    label_selectors: tuple[LabelSelector, ...] = ()
    cpu_threshold_millis: int | None = None
    memory_threshold_mib: int | None = None
    gpu_pods: bool = False

    def isolates(self, pod: PodRequest) -> bool:
        if pod.namespace in self.namespaces:
            return True
        if self.gpu_pods and pod.wants_gpu:
            return True
        if self.cpu_threshold_millis is not None and pod.requests.cpu_millis >= self.cpu_threshold_millis:
            return True
        if self.memory_threshold_mib is not None and pod.requests.memory_mib >= self.memory_threshold_mib:
            return True
        return any(selector.matches(pod.labels) for selector in self.label_selectors)


@dataclass(frozen=True, slots=True)
class Exclusions:
    """Pods Nodeless leaves alone: never planned for, never bound, whatever they ask."""

    namespaces: frozenset[str] = frozenset()
    label_selectors: tuple[LabelSelector, ...] = ()

    def excludes(self, namespace: str, labels: Mapping[str, str]) -> bool:
        return namespace in self.namespaces or any(s.matches(labels) for s in self.label_selectors)


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on the managed capacity of the cluster, existing nodes included. None: no cap.

    `max_cost_per_hour` is compared with billed prices (after discount), not effective ones.
    """

    max_vcpu: int | None = None
    max_nodes: int | None = None
    max_cost_per_hour: float | None = None


@dataclass(frozen=True, slots=True)
class PlannerPolicy:
    """What the planner may launch and how it packs.

    `node_labels` and `node_taints` are put on every new node, so pods must tolerate the taints
    and may select the labels. `max_offerings_per_launch` bounds the fallback list of a launch.

    Burstable types are sized by their baseline CPU (what they sustain without credits) unless
    `burstable_unlimited` opts in to unlimited mode: then they are sized by all their vCPUs and
    priced as if the pods used them all the time, the surplus-credit charge included (see
    `engines.planner.table.unlimited_surcharge`). Types without an unlimited mode stay at their
    baseline either way. `exclusions` are pods the provisioning loop never takes.

    `default_architectures` are the `kubernetes.io/arch` values a new node may have for a pod that
    says nothing about its architecture (Karpenter defaults its NodePools to amd64 likewise): an
    image built for amd64 only would not start on an arm64 node, and most are. A pod allows other
    architectures with node affinity (or a node selector) on `kubernetes.io/arch`; a policy that
    opts in to arm64 clears the default. Empty: any architecture the instance requirements allow.
    """

    objective: Objective = Objective.COST
    capacity_types: frozenset[CapacityType] = frozenset({CapacityType.ON_DEMAND, CapacityType.SPOT})
    instance_requirements: InstanceRequirements = InstanceRequirements()
    packing: Packing = Packing.PACK
    isolation: IsolationRules = IsolationRules()
    max_pods_per_node: int | None = None
    spot_max_interruption_bucket: int | None = None
    limits: Limits = Limits()
    gpu_sharing: bool = False
    node_labels: Mapping[str, str] = field(default_factory=dict)
    node_taints: tuple[Taint, ...] = ()
    max_offerings_per_launch: int = 20
    burstable_unlimited: bool = False
    default_architectures: frozenset[str] = frozenset()
    exclusions: Exclusions = Exclusions()

    def isolates(self, pod: PodRequest) -> bool:
        return pod.isolate or self.packing is Packing.ISOLATE or self.isolation.isolates(pod)

    @property
    def interruption_weight(self) -> float:
        return INTERRUPTION_WEIGHT[self.objective]
