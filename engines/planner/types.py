"""The planner's input about the cluster: pending pods, existing nodes and the snapshot holding them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engines.kube.affinity import AffinityTerm, HostPort, SpreadConstraint, WeightedNodeTerm, WeightedPodTerm
from engines.kube.capacity import CapacityType
from engines.kube.labels import NodeSelectorTerm, Taint, Toleration
from engines.kube.resources import Resources


@dataclass(frozen=True, slots=True)
class PodRequest:
    """A pending pod as the planner sees it.

    `requests.pods` is ignored (every pod takes one pod slot). `gpu_share_milli` (1..999) asks
    for a slice of one GPU instead of `requests.gpus` whole devices; it only shares a device
    when the policy allows GPU sharing, and otherwise counts as one whole GPU. `gpu_models`
    is an allowlist of catalog GPU model names (empty: any model).

    The inter-pod rules (`pod_affinity`, `pod_anti_affinity` required terms, `spread`, `host_ports`)
    and `volume_zones` (the zones its volumes can be reached from: a bound PV's node affinity, a
    WaitForFirstConsumer class's allowed topologies; None when its volumes do not constrain zones)
    are turned into node requirements by `engines.planner.topology` before packing, as is
    `attachable_volumes` (the volumes it mounts that count against a node's attach limit).
    `preferred_node_affinity` and `preferred_pod_affinity` (kube-scheduler's scoring preferences)
    only break ties between zones of equal cost there.
    """

    uid: str
    name: str
    namespace: str = "default"
    requests: Resources = Resources()
    labels: Mapping[str, str] = field(default_factory=dict)
    gpu_models: frozenset[str] = frozenset()
    gpu_share_milli: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)
    required_node_affinity: tuple[NodeSelectorTerm, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    isolate: bool = False
    priority: int = 0
    pod_affinity: tuple[AffinityTerm, ...] = ()
    pod_anti_affinity: tuple[AffinityTerm, ...] = ()
    spread: tuple[SpreadConstraint, ...] = ()
    host_ports: frozenset[HostPort] = frozenset()
    volume_zones: frozenset[str] | None = None
    attachable_volumes: int = 0
    preferred_node_affinity: tuple[WeightedNodeTerm, ...] = ()
    preferred_pod_affinity: tuple[WeightedPodTerm, ...] = ()

    @property
    def has_topology_rules(self) -> bool:
        return bool(
            self.pod_affinity
            or self.pod_anti_affinity
            or self.spread
            or self.host_ports
            or self.volume_zones is not None
            or self.attachable_volumes
        )

    @property
    def wants_gpu(self) -> bool:
        return self.requests.gpus > 0 or self.gpu_share_milli > 0


@dataclass(frozen=True, slots=True)
class ExistingNode:
    """A managed node that is running or being launched (in flight), with its free capacity.

    `free.pods` is the number of free pod slots. A node `reserved_for_pod` was launched for
    one isolated pod and takes no other pod. `price_per_hour` is what is actually paid.
    """

    name: str
    instance_type: str
    zone: str
    capacity_type: CapacityType
    price_per_hour: float
    free: Resources
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    reserved_for_pod: str | None = None
    ready: bool = True


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """Any node of the cluster (managed or not, Ready or in flight) as a topology domain: the pods on
    it count for the inter-pod rules of pending pods."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True, slots=True)
class PlacedPod:
    """A pod bound to a node, or planned onto a node in flight (`node_name` names a `ClusterNode`)."""

    namespace: str
    labels: Mapping[str, str]
    node_name: str
    anti_affinity: tuple[AffinityTerm, ...] = ()
    host_ports: frozenset[HostPort] = frozenset()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the planner needs to know about one cluster at one moment.

    `daemonset_overhead` is what the cluster's daemonsets request on every new node (its
    `pods` field counts their pods). `attach_limit` is how many volumes a new node can attach
    (None: not counted) - unless `type_attach_limits` gives its instance type's own count;
    `attach_room`, by node name, how many more an existing or in-flight node can. `allowed_zones` restricts new capacity to some zones
    (empty: every zone of the catalog's region). `cluster_nodes` and `placed` are the topology the
    inter-pod rules count against; `daemonset_host_ports` are taken on every new node.
    `type_daemonset_overhead`, by instance type, replaces `daemonset_overhead` for the types some
    daemonsets never land on (their node selector names another arch, GPU count...).
    """

    pods: tuple[PodRequest, ...]
    existing_nodes: tuple[ExistingNode, ...] = ()
    daemonset_overhead: Resources = Resources()
    region: str = ""
    allowed_zones: frozenset[str] = frozenset()
    cluster_nodes: tuple[ClusterNode, ...] = ()
    placed: tuple[PlacedPod, ...] = ()
    daemonset_host_ports: frozenset[HostPort] = frozenset()
    attach_limit: int | None = None
    attach_room: Mapping[str, int] = field(default_factory=dict)
    type_attach_limits: Mapping[str, int] = field(default_factory=dict)
    type_daemonset_overhead: Mapping[str, Resources] = field(default_factory=dict)

    def overhead_for(self, instance_type: str) -> Resources:
        """What the daemonsets request on a new node of this type (`type_daemonset_overhead`, where
        the type's labels keep some daemonsets off it; else `daemonset_overhead`)."""
        return self.type_daemonset_overhead.get(instance_type, self.daemonset_overhead)
