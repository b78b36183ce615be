"""Would kube-scheduler put this pod on this node now? The product's check before any bind it makes.

`BindCheck` runs kube-scheduler's filters for one pod on one node of a `ClusterState` read fresh,
plus the pods this check already accepted (binds of the same pass): the node is Ready and not
cordoned; its NoSchedule/NoExecute taints are tolerated (with the tolerations about to be added);
the node selector and required node affinity match; the requests fit; no host port is taken; the
pod's required pod affinity and anti-affinity hold, and no placed pod's anti-affinity excludes it;
every `DoNotSchedule` topology spread constraint stays within its skew; once the pass has read
them (`know_volumes`), the node is in a zone the pod's volumes allow and can attach its new
volumes. It answers with the rule that refuses, in words a person can act on, or None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engines.kube.affinity import AffinityTerm, SpreadConstraint, ports_conflict
from engines.kube.cluster import ClusterState, ObservedNode
from engines.kube.labels import HOSTNAME, ZONE, Toleration, untolerated_taints
from engines.kube.pods import Pod
from engines.kube.quantity import QuantityError
from engines.kube.resources import Resources


@dataclass(frozen=True)
class _Placed:
    pod: Pod
    node: ObservedNode

    def value(self, key: str) -> str | None:
        return _label(self.node, key)


def _label(node: ObservedNode, key: str) -> str | None:
    labels = node.node.labels
    if key == HOSTNAME:
        return labels.get(HOSTNAME, node.name)
    return labels.get(key)


class BindCheck:
    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self._added: dict[str, list[Pod]] = {}
        self._every: list[_Placed] | None = None  # listed on first need: most binds have no such rule
        self._guarded: list[_Placed] | None = None
        self._zones: Mapping[str, frozenset[str] | None] = {}
        self._room: Mapping[str, int] = {}

    def know_volumes(self, zones: Mapping[str, frozenset[str] | None], room: Mapping[str, int]) -> None:
        """The zones each pod's volumes allow (by pod uid) and how many more volumes each node can
        attach (by node name), as the pass read them."""
        self._zones, self._room = zones, room

    @property
    def _placed(self) -> list[_Placed]:
        if self._every is None:
            self._every = [
                _Placed(pod, node)
                for node in self.state.nodes.values()
                for pod in node.pods
                if not pod.is_finished
            ]
        return self._every

    @property
    def _with_anti_affinity(self) -> list[_Placed]:
        if self._guarded is None:
            self._guarded = [placed for placed in self._placed if placed.pod.pod_anti_affinity]
        return self._guarded

    def accept(self, pod: Pod, node_name: str) -> None:
        """Count the pod as placed on the node (bound in this pass)."""
        self._added.setdefault(node_name, []).append(pod)
        placed = _Placed(pod, self.state.nodes[node_name])
        self._placed.append(placed)
        if pod.pod_anti_affinity:
            self._with_anti_affinity.append(placed)

    def refusal(self, pod: Pod, node_name: str, tolerations: Iterable[Toleration] = ()) -> str | None:
        """Why kube-scheduler would refuse the pod on the node (None: it would accept it)."""
        observed = self.state.nodes.get(node_name)
        if observed is None:
            return f"node {node_name} is gone"
        node = observed.node
        if not node.ready:
            return f"node {node_name} is not Ready"
        if node.unschedulable:
            return f"node {node_name} is cordoned"
        blocking = untolerated_taints(node.taints, (*pod.tolerations, *tolerations))
        if blocking:
            return f"does not tolerate the taint {blocking[0].describe()} of node {node_name}"
        if not _node_affinity(pod, node.labels):
            return f"node {node_name} does not match its node selector or required node affinity"
        return (
            self._resources(pod, observed)
            or self._ports(pod, observed)
            or self._inter_pod(pod, observed)
            or self._spread(pod, observed)
            or self._volumes(pod, observed)
        )

    def _volumes(self, pod: Pod, observed: ObservedNode) -> str | None:
        if not pod.claim_names:
            return None
        zones = self._zones.get(pod.uid)
        zone = observed.node.labels.get(ZONE)
        if zones is not None and zone not in zones:
            return f"its volumes are in zones {','.join(sorted(zones))}, node {observed.name} is in {zone}"
        room = self._room.get(observed.name)
        if room is None:
            return None
        # The room was read with the node's pods: what pods bound in this pass add, once per claim.
        on_node = {f"{p.namespace}/{c}" for p in observed.pods if not p.is_finished for c in p.claim_names}
        added = {f"{p.namespace}/{c}" for p in self._added.get(observed.name, ()) for c in p.claim_names}
        wanted = {f"{pod.namespace}/{c}" for c in pod.claim_names}
        if len((added | wanted) - on_node) > room:
            return f"node {observed.name} cannot attach more volumes (node volume limits)"
        return None

    def _resources(self, pod: Pod, observed: ObservedNode) -> str | None:
        used = observed.requested()
        for other in self._added.get(observed.name, ()):
            used = used + _requests(other)
        if not (used + _requests(pod)).fits_in(observed.node.allocatable):
            return f"node {observed.name} has no room left for its requests"
        return None

    def _ports(self, pod: Pod, observed: ObservedNode) -> str | None:
        ours = pod.host_ports
        if not ours:
            return None
        for other in [*observed.pods, *self._added.get(observed.name, ())]:
            if other.is_finished:
                continue
            taken = ports_conflict(ours, other.host_ports)
            if taken is not None:
                return f"host port {taken.describe()} is taken on node {observed.name}"
        return None

    def _inter_pod(self, pod: Pod, observed: ObservedNode) -> str | None:
        affinity = pod.pod_affinity
        for term in affinity:
            here = _label(observed, term.topology_key)
            if any(
                _selects(term, p.pod) and here is not None and p.value(term.topology_key) == here
                for p in self._placed
            ):
                continue
            anywhere = any(all(_selects(t, p.pod) for t in affinity) for p in self._placed)
            itself = all(_selects(t, pod) for t in affinity)
            if anywhere or not itself or here is None:
                return f"required pod affinity ({term.describe()}) is not met on node {observed.name}"
        for term in pod.pod_anti_affinity:
            here = _label(observed, term.topology_key)
            if here is not None and any(
                _selects(term, p.pod) and p.value(term.topology_key) == here for p in self._placed
            ):
                return f"required pod anti-affinity ({term.describe()}) forbids node {observed.name}"
        for placed in self._with_anti_affinity:
            for term in placed.pod.pod_anti_affinity:
                here = _label(observed, term.topology_key)
                if here is not None and placed.value(term.topology_key) == here and _selects(term, pod):
                    return f"pod {placed.pod.key}'s required anti-affinity forbids node {observed.name}"
        return None

    def _spread(self, pod: Pod, observed: ObservedNode) -> str | None:
        for constraint in pod.spread:
            if not constraint.hard:
                continue
            here = _label(observed, constraint.topology_key)
            if here is None:
                return (
                    f"node {observed.name} has no {constraint.topology_key} label its topology spread needs"
                )
            counts = _domain_counts(pod, constraint, self.state.nodes.values(), self._placed)
            minimum = min(counts.values(), default=0)
            if constraint.min_domains is not None and len(counts) < constraint.min_domains:
                minimum = 0
            itself = 1 if constraint.counts(pod.namespace, pod.namespace, pod.labels) else 0
            if counts.get(here, 0) + itself - minimum > constraint.max_skew:
                return (
                    f"topology spread ({constraint.describe()}) would exceed its skew on node {observed.name}"
                )
        return None


def _requests(pod: Pod) -> Resources:
    try:
        return pod.requests
    except QuantityError:
        return Resources(pods=1)


def _selects(term: AffinityTerm, pod: Pod) -> bool:
    return not pod.is_finished and term.matches(pod.namespace, pod.labels)


def _node_affinity(pod: Pod, labels: Mapping[str, str]) -> bool:
    if any(labels.get(key) != value for key, value in pod.node_selector.items()):
        return False
    terms = pod.required_node_affinity
    return not terms or any(term.matches(labels) for term in terms)


def _domain_counts(
    pod: Pod, constraint: SpreadConstraint, nodes: Iterable[ObservedNode], placed: list[_Placed]
) -> dict[str, int]:
    """Selected pods per domain, over the nodes the node inclusion policies admit."""
    key = constraint.topology_key
    eligible: dict[str, str] = {}
    for node in nodes:
        value = _label(node, key)
        if value is None:
            continue
        if constraint.node_affinity_policy == "Honor" and not _node_affinity(pod, node.node.labels):
            continue
        if constraint.node_taints_policy == "Honor" and untolerated_taints(node.node.taints, pod.tolerations):
            continue
        eligible[node.name] = value
    counts = dict.fromkeys(eligible.values(), 0)
    for item in placed:
        value = eligible.get(item.node.name)
        if (
            value is not None
            and not item.pod.is_terminating
            and constraint.counts(item.pod.namespace, pod.namespace, item.pod.labels)
        ):
            counts[value] += 1
    return counts
