"""The simulated cluster of a replay: nodes with their pods, free capacity and labels.

A node is what a launch created: it takes pods once `ready_at` is reached (pods bound earlier
wait for it), and it reports its free capacity to the planner as an `ExistingNode` with the
labels the planner promised for the offering, so pods that select them land there as they
would on a real node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engines.kube import labels as wk
from engines.planner import (
    CapacityType,
    Catalog,
    ExistingNode,
    InstanceType,
    OfferingChoice,
    PlannerPolicy,
    PodRequest,
    Resources,
    Taint,
)


def footprint(pod: PodRequest) -> Resources:
    """What a pod takes from its node. A GPU slice (`gpu_share_milli`) is charged as a whole
    GPU: `ExistingNode.free` counts whole devices, so a partly used device can take nothing
    more from a later plan (exact without GPU sharing, conservative with it)."""
    gpus = pod.requests.gpus or (1 if pod.gpu_share_milli > 0 else 0)
    return Resources(pod.requests.cpu_millis, pod.requests.memory_mib, gpus, pod.requests.ephemeral_mib, 1)


def node_allocatable(
    instance_type: InstanceType, policy: PlannerPolicy, daemonset_overhead: Resources
) -> Resources:
    """What pods can use on a new node: the planner's rule (allocatable minus daemonsets, pods
    capped by the policy's max pods per node)."""
    allocatable = (instance_type.allocatable - daemonset_overhead).clamped()
    max_pods = instance_type.max_pods
    if policy.max_pods_per_node is not None:
        max_pods = min(max_pods, policy.max_pods_per_node)
    pods = max(max_pods - instance_type.system_reserve.pods - daemonset_overhead.pods, 0)
    return Resources(
        allocatable.cpu_millis, allocatable.memory_mib, allocatable.gpus, allocatable.ephemeral_mib, pods
    )


def node_labels(
    instance_type: InstanceType, choice: OfferingChoice, region: str, policy: PlannerPolicy
) -> dict[str, str]:
    """The well-known labels a node of this offering registers with, plus the policy's labels."""
    labels = {
        wk.ARCH: instance_type.architecture,
        wk.OS: "linux",
        wk.ZONE: choice.zone,
        wk.REGION: region,
        wk.INSTANCE_TYPE: instance_type.name,
        wk.INSTANCE_FAMILY: instance_type.family,
        wk.INSTANCE_CPU: str(instance_type.vcpu),
        wk.INSTANCE_MEMORY: str(instance_type.memory_mib),
        wk.INSTANCE_GPU_COUNT: str(instance_type.gpus),
    }
    if choice.capacity_type.is_instance:
        labels[wk.CAPACITY_TYPE] = choice.capacity_type.aws_value
    if instance_type.generation:
        labels[wk.INSTANCE_GENERATION] = str(instance_type.generation)
    if instance_type.gpu_model:
        labels[wk.INSTANCE_GPU_NAME] = instance_type.gpu_model.lower()
    return {**labels, **policy.node_labels}


@dataclass(slots=True, eq=False)
class SimNode:
    """A launched node (or a serverless pod's micro-VM when `allocatable` is None)."""

    name: str
    choice: OfferingChoice
    allocatable: Resources | None
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    launched_at: float
    ready_at: float
    reserved_for_pod: str | None
    used: Resources = Resources()
    pods: set[str] = field(default_factory=set)
    pods_served: int = 0
    empty_since: float | None = None
    released_at: float | None = None
    cordoned: bool = False

    @property
    def serverless(self) -> bool:
        return self.choice.capacity_type is CapacityType.SERVERLESS

    @property
    def live(self) -> bool:
        return self.released_at is None

    @property
    def free(self) -> Resources:
        if self.allocatable is None:
            return Resources()
        return (self.allocatable - self.used).clamped()

    def add(self, uid: str, taken: Resources) -> None:
        self.pods.add(uid)
        self.used = self.used + taken
        self.pods_served += 1
        self.empty_since = None

    def remove(self, uid: str, taken: Resources, now: float) -> None:
        self.pods.discard(uid)
        self.used = self.used - taken
        if not self.pods:
            self.empty_since = now

    def as_existing(self, now: float) -> ExistingNode:
        return ExistingNode(
            name=self.name,
            instance_type=self.choice.instance_type,
            zone=self.choice.zone,
            capacity_type=self.choice.capacity_type,
            price_per_hour=self.choice.price_per_hour,
            free=self.free,
            labels=self.labels,
            taints=self.taints,
            reserved_for_pod=self.reserved_for_pod,
            ready=self.ready_at <= now,
        )


class NodeFactory:
    """Creates nodes for offerings of one catalog under one policy, with sequential names."""

    def __init__(self, catalog: Catalog, policy: PlannerPolicy, daemonset_overhead: Resources) -> None:
        self._types = {t.name: t for t in catalog.instance_types}
        self._region = catalog.region
        self._policy = policy
        self._overhead = daemonset_overhead
        self._count = 0

    def create(
        self, choice: OfferingChoice, launched_at: float, ready_at: float, reserved_for_pod: str | None
    ) -> SimNode:
        self._count += 1
        name = f"replay-{self._count:06d}"
        if choice.capacity_type is CapacityType.SERVERLESS:
            return SimNode(name, choice, None, {}, (), launched_at, ready_at, reserved_for_pod)
        instance_type = self._types[choice.instance_type]
        return SimNode(
            name,
            choice,
            node_allocatable(instance_type, self._policy, self._overhead),
            node_labels(instance_type, choice, self._region, self._policy),
            self._policy.node_taints,
            launched_at,
            ready_at,
            reserved_for_pod,
        )
