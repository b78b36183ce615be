"""One consistent look at a cluster: its nodes with the pods bound to them, the pods waiting for a
node, and what the cluster's DaemonSets put on every node.

Built from kernel `Pod` and `Node` views by `cluster_state`, from whatever listed or watched them
(the observation in `clusters.observation`); pure, so the loops' decisions can be tested on states
built by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from engines.kube.labels import NodeSelectorTerm, Taint, canonical_key, untolerated_taints
from engines.kube.nodes import Node
from engines.kube.pods import Pod
from engines.kube.quantity import QuantityError
from engines.kube.resources import Resources


@dataclass
class ObservedNode:
    """A node and the pods bound to it."""

    node: Node
    pods: list[Pod] = field(default_factory=list)
    _requested: Resources | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def workload_pods(self) -> list[Pod]:
        """Pods that keep the node busy: not DaemonSet pods, not finished."""
        return [pod for pod in self.pods if not pod.is_daemonset and not pod.is_finished]

    def requested(self) -> Resources:
        """What the node's unfinished pods request (computed once: a pass asks several times). A pod
        whose requests cannot be read counts as one pod slot."""
        if self._requested is None:
            total = Resources()
            for pod in self.pods:
                if not pod.is_finished:
                    try:
                        total = total + pod.requests
                    except QuantityError:
                        total = total + Resources(pods=1)
            self._requested = total
        return self._requested

    def free(self) -> Resources:
        return (self.node.allocatable - self.requested()).clamped()


@dataclass(frozen=True)
class ClusterState:
    nodes: Mapping[str, ObservedNode]
    pending: tuple[Pod, ...]
    daemonset_overhead: Resources
    observed_at: datetime
    # Pods bound to a node that is not (or no longer) listed: they ran somewhere and may still be
    # billed, but take room on no node the cluster has.
    orphans: tuple[Pod, ...] = ()

    @property
    def bound_pods(self) -> list[Pod]:
        """Every pod bound to a node, finished ones included."""
        return [*(pod for node in self.nodes.values() for pod in node.pods), *self.orphans]

    def node_of_instance(self, instance_id: str) -> ObservedNode | None:
        """The node an instance registered as (matched by its `providerID`)."""
        if not instance_id:
            return None
        return next((n for n in self.nodes.values() if n.node.instance_id == instance_id), None)

    def new_node_overhead(self, new_node: NewNode) -> Resources:
        """What a new node gives up to the DaemonSets that would place a pod on it."""
        return daemonset_overhead(self.bound_pods, new_node)

    def overhead_by_variant(
        self, new_node: NewNode, variants: Mapping[str, Mapping[str, str]]
    ) -> dict[str, Resources]:
        """For each variant of a new node (by name: an instance type, with the labels it fixes, such
        as its arch or GPU count), what its DaemonSets request there - only the variants where that
        differs from `new_node_overhead(new_node)`: a DaemonSet whose pods only land on arm64 (or
        on GPU nodes) costs nothing on the other types."""
        templates = daemonset_templates(self.bound_pods)
        read = {canonical_key(key) for pod in templates for key in pod.node_selector}
        read.update(
            canonical_key(r.key)
            for pod in templates
            for t in pod.required_node_affinity
            for r in t.match_expressions
        )
        if not read & {key for labels in variants.values() for key in labels}:
            return {}  # no DaemonSet tells the variants apart
        base = daemonset_overhead(templates, new_node)
        found = {}
        for name, labels in variants.items():
            variant = NewNode(
                {**new_node.labels, **labels}, new_node.varying - labels.keys(), new_node.taints
            )
            overhead = daemonset_overhead(templates, variant)
            if overhead != base:
                found[name] = overhead
        return found

    @property
    def pod_count(self) -> int:
        """Pods that are not finished: bound or waiting."""
        return sum(1 for pod in self.bound_pods if not pod.is_finished) + len(self.pending)


@dataclass(frozen=True)
class NewNode:
    """What is certain about a node not launched yet: the labels every such node carries (`labels`),
    the keys whose values depend on the offering chosen (`varying`: zone, instance type, arch,
    capacity type, hostname...) - any other key it does not carry - and its lasting taints.

    As Karpenter does, a DaemonSet counts on the node only if its pods would be placed there: they
    tolerate its taints and their node selector and node affinity can match it. A rule on a
    varying key counts as met (the overhead stays an upper bound for every offering). The
    DaemonSet controller pins each pod to its node with a `matchFields` term, which replaces the
    template's node affinity in the pod: what remains readable is the node selector."""

    labels: Mapping[str, str]
    varying: frozenset[str]
    taints: tuple[Taint, ...] = ()

    def _may_match(self, term: NodeSelectorTerm) -> bool:
        return all(
            canonical_key(r.key) in self.varying or r.matches(self.labels) for r in term.match_expressions
        )

    def may_run(self, pod: Pod) -> bool:
        if untolerated_taints(self.taints, pod.tolerations):
            return False
        for key, value in pod.node_selector.items():
            key = canonical_key(key)
            if key not in self.varying and self.labels.get(key) != value:
                return False
        terms = pod.required_node_affinity
        return not terms or any(self._may_match(term) for term in terms)


def daemonset_overhead(pods: Iterable[Pod], new_node: NewNode | None = None) -> Resources:
    """What a new node gives up to the cluster's DaemonSets: per DaemonSet, its largest pod (with
    `new_node`, only the DaemonSets that would place a pod on such a node)."""
    largest: dict[str, Resources] = {}
    for pod in pods:
        owner = pod.daemonset_uid
        if not owner or (new_node is not None and not new_node.may_run(pod)):
            continue
        try:
            request = pod.requests
        except QuantityError:
            continue
        known = largest.get(owner)
        if known is None or request.cpu_millis > known.cpu_millis:
            largest[owner] = request
    total = Resources()
    for request in largest.values():
        total = total + request
    return total


def daemonset_templates(pods: Iterable[Pod]) -> list[Pod]:
    """One pod per DaemonSet, its largest: the pods of one DaemonSet share its template (their node
    affinity is the controller's `matchFields` pin, their node selector the template's)."""
    largest: dict[str, tuple[int, Pod]] = {}
    for pod in pods:
        owner = pod.daemonset_uid
        if not owner:
            continue
        try:
            cpu = pod.requests.cpu_millis
        except QuantityError:
            continue
        known = largest.get(owner)
        if known is None or cpu > known[0]:
            largest[owner] = (cpu, pod)
    return [pod for _, pod in largest.values()]


def cluster_state(pods: Iterable[Pod], nodes: Iterable[Node], observed_at: datetime) -> ClusterState:
    observed = {node.name: ObservedNode(node) for node in nodes}
    pending: list[Pod] = []
    orphans: list[Pod] = []
    every_pod = list(pods)
    for pod in every_pod:
        if pod.node_name:
            if pod.node_name in observed:
                observed[pod.node_name].pods.append(pod)
            else:
                orphans.append(pod)
        elif pod.is_pending:
            pending.append(pod)
    return ClusterState(
        observed, tuple(pending), daemonset_overhead(every_pod), observed_at, orphans=tuple(orphans)
    )
