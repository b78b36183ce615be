"""Pure scheduling predicates: does a pod fit a node, and if not, why (kube-scheduler's words).

`placement_reasons` is the whole filter chain for one pod on one node of a cluster given as JSON -
the oracle tests check the product's plans against (what kube-scheduler would refuse).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulator.controllers.interpod import (
    Domain,
    PlacedPod,
    inter_pod_reasons,
    port_reasons,
    spread_reasons,
)
from simulator.controllers.volume_rules import (
    VolumeWorld,
    claim_names,
    node_volume_reasons,
    pre_filter_reasons,
)
from simulator.quantity import Resources, parse_quantity, parse_resource_list, pod_requests

NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


@dataclass(frozen=True)
class PodNeeds:
    """What scheduling a pod requires, extracted once per pod revision."""

    requests: Resources
    node_selector: Mapping[str, str]
    required_terms: tuple[Mapping[str, Any], ...] | None  # None: no required node affinity
    tolerations: tuple[Mapping[str, Any], ...]
    pod: Mapping[str, Any] = field(default_factory=dict)
    # Whether the pod has inter-pod rules (affinity, anti-affinity, hard spread) or host ports.
    inter_pod: bool = False
    # Whether it mounts PersistentVolumeClaims (the volume filters then apply).
    claims: bool = False


@dataclass
class NodeState:
    """A node as the scheduler sees it during one pass (`used` grows as pods are bound)."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, Any], ...]
    allocatable: Resources
    used: Resources = field(default_factory=dict)
    pod_count: int = 0
    ready: bool = True
    unschedulable: bool = False
    pods: list[Mapping[str, Any]] = field(default_factory=list)

    def add(self, requests: Resources, pod: Mapping[str, Any] | None = None) -> None:
        for name, quantity in requests.items():
            self.used[name] = self.used.get(name, 0.0) + quantity
        self.pod_count += 1
        if pod is not None:
            self.pods.append(pod)


def _has_inter_pod_rules(spec: Mapping[str, Any]) -> bool:
    affinity = spec.get("affinity") or {}
    ports = any(
        port.get("hostPort")
        for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
        for port in container.get("ports") or ()
    )
    return bool(
        affinity.get("podAffinity")
        or affinity.get("podAntiAffinity")
        or spec.get("topologySpreadConstraints")
        or ports
    )


def pod_needs(pod: Mapping[str, Any], requests: Resources) -> PodNeeds:
    spec = pod.get("spec") or {}
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    terms = tuple(affinity.get("nodeSelectorTerms") or ()) if affinity is not None else None
    return PodNeeds(
        requests=requests,
        node_selector=spec.get("nodeSelector") or {},
        required_terms=terms,
        tolerations=tuple(spec.get("tolerations") or ()),
        pod=pod,
        inter_pod=_has_inter_pod_rules(spec),
        claims=bool(claim_names(pod)),
    )


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        operator = toleration.get("operator") or "Equal"
        key = toleration.get("key") or ""
        if operator == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator", "")
    values = expression.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and values:
        try:
            actual, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return actual > bound if operator == "Gt" else actual < bound
    return False


def term_matches(term: Mapping[str, Any], node_name: str, labels: Mapping[str, str]) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no node
    field_values = {"metadata.name": node_name}
    return all(_expression_matches(e, labels) for e in expressions) and all(
        _expression_matches(f, field_values) for f in fields
    )


def node_affinity_matches(needs: PodNeeds, node: NodeState) -> bool:
    if any(node.labels.get(k) != v for k, v in needs.node_selector.items()):
        return False
    if needs.required_terms is None:
        return True
    return any(term_matches(t, node.name, node.labels) for t in needs.required_terms)


def _effective_taints(node: NodeState) -> list[Mapping[str, Any]]:
    taints = [t for t in node.taints if t.get("effect") in ("NoSchedule", "NoExecute")]
    if not node.ready:
        taints.append(NOT_READY_TAINT)
    return taints


def unfit_reasons(needs: PodNeeds, node: NodeState) -> list[str]:
    """Why `node` cannot take the pod, as kube-scheduler's filter plugins word it ([] = fits)."""
    if node.unschedulable and not tolerates(needs.tolerations, UNSCHEDULABLE_TAINT):
        return ["node(s) were unschedulable"]
    for taint in _effective_taints(node):
        if not tolerates(needs.tolerations, taint):
            value = taint.get("value") or ""
            return [f"node(s) had untolerated taint {{{taint.get('key')}: {value}}}"]
    if not node_affinity_matches(needs, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    reasons = []
    if node.pod_count + 1 > node.allocatable.get("pods", 110):
        reasons.append("Too many pods")
    for name, quantity in sorted(needs.requests.items()):
        if quantity <= 0:
            continue
        if node.used.get(name, 0.0) + quantity > node.allocatable.get(name, 0.0) + 1e-9:
            reasons.append(f"Insufficient {name}")
    return reasons


@dataclass
class ClusterView:
    """The nodes of one pass with the pods on them, for the rules between pods. Every placed pod
    is listed only when a pod with such rules asks (most passes have none); the placed pods with
    required anti-affinity, which every pod is checked against, are listed at once."""

    nodes: list[NodeState]
    guarded: list[PlacedPod] = field(default_factory=list)
    _placed: list[PlacedPod] | None = None

    @classmethod
    def of(cls, nodes: list[NodeState]) -> ClusterView:
        view = cls(nodes)
        for node in nodes:
            for pod in node.pods:
                if _has_anti_affinity(pod):
                    view.guarded.append(PlacedPod(pod, node.name, node.labels))
        return view

    @property
    def placed(self) -> list[PlacedPod]:
        if self._placed is None:
            self._placed = [PlacedPod(pod, n.name, n.labels) for n in self.nodes for pod in n.pods]
        return self._placed

    def record(self, pod: Mapping[str, Any], node: NodeState) -> None:
        """A pod bound in this pass (`node.pods` has it already)."""
        placed = PlacedPod(pod, node.name, node.labels)
        if self._placed is not None:
            self._placed.append(placed)
        if _has_anti_affinity(pod):
            self.guarded.append(placed)


def _has_anti_affinity(pod: Mapping[str, Any]) -> bool:
    anti = ((pod.get("spec") or {}).get("affinity") or {}).get("podAntiAffinity") or {}
    return bool(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))


def _admits(needs: PodNeeds) -> Any:
    def admits(constraint: Mapping[str, Any], domain: Domain) -> bool:
        honor_affinity = (constraint.get("nodeAffinityPolicy") or "Honor") == "Honor"
        if honor_affinity and not node_affinity_matches(needs, NodeState(domain.name, domain.labels, (), {})):
            return False
        if (constraint.get("nodeTaintsPolicy") or "Ignore") == "Honor":
            hard = [t for t in domain.taints if t.get("effect") in ("NoSchedule", "NoExecute")]
            if any(not tolerates(needs.tolerations, taint) for taint in hard):
                return False
        return True

    return admits


def volume_unfit(needs: PodNeeds, node: NodeState, volumes: VolumeWorld | None) -> list[str]:
    """The volume filters (VolumeBinding, VolumeZone, NodeVolumeLimits) for one node."""
    if not needs.claims:
        return []
    world = volumes or VolumeWorld()
    return pre_filter_reasons(needs.pod, world) or node_volume_reasons(
        needs.pod, node.name, node.labels, node.allocatable, node.pods, world
    )


def inter_pod_unfit(needs: PodNeeds, node: NodeState, cluster: ClusterView) -> list[str]:
    """The filters between pods (NodePorts, InterPodAffinity, PodTopologySpread) for one node."""
    if not needs.inter_pod:
        if not cluster.guarded:
            return []
        return inter_pod_reasons(needs.pod, node.labels, cluster.guarded)
    reasons = port_reasons(needs.pod, node.pods)
    reasons = reasons or inter_pod_reasons(needs.pod, node.labels, cluster.placed)
    domains = (Domain(n.name, n.labels, n.taints) for n in cluster.nodes)
    here = Domain(node.name, node.labels, node.taints)
    return reasons or spread_reasons(needs.pod, here, domains, cluster.placed, _admits(needs))


def placement_reasons(
    pod: Mapping[str, Any],
    node_name: str,
    nodes: Sequence[Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    volumes: VolumeWorld | None = None,
) -> list[str]:
    """The oracle: why kube-scheduler would refuse to put `pod` on node `node_name` of a cluster whose
    nodes and (bound) pods are given as JSON ([] = it would accept), with its claims, volumes,
    storage classes and CSINodes. Nodes count as Ready unless a Ready condition says otherwise."""
    states = []
    for raw in nodes:
        conditions = (raw.get("status") or {}).get("conditions") or ()
        ready = all(c.get("status") == "True" for c in conditions if c.get("type") == "Ready")
        states.append(node_state(raw, ready))
    by_name = {state.name: state for state in states}
    for other in pods:
        bound = by_name.get(str((other.get("spec") or {}).get("nodeName") or ""))
        if bound is not None and (other.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            bound.add(pod_requests(other.get("spec") or {}), other)
    needs = pod_needs(pod, pod_requests(pod.get("spec") or {}))
    target = by_name[node_name]
    return (
        unfit_reasons(needs, target)
        or volume_unfit(needs, target, volumes)
        or inter_pod_unfit(needs, target, ClusterView.of(states))
    )


def least_allocated_score(needs: PodNeeds, node: NodeState) -> float:
    """kube-scheduler's default NodeResourcesFit score: the mean free share of cpu and memory."""
    shares = []
    for name in ("cpu", "memory"):
        allocatable = node.allocatable.get(name, 0.0)
        if allocatable > 0:
            shares.append(
                (allocatable - node.used.get(name, 0.0) - needs.requests.get(name, 0.0)) / allocatable
            )
    return sum(shares) / len(shares) if shares else 0.0


def failure_message(total_nodes: int, reasons_by_node: Mapping[str, list[str]]) -> str:
    if total_nodes == 0:
        return "no nodes available to schedule pods"
    counts: dict[str, int] = {}
    for reasons in reasons_by_node.values():
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    summary = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))
    return (
        f"0/{total_nodes} nodes are available: {summary}. preemption: 0/{total_nodes} nodes are available: "
        f"{total_nodes} Preemption is not helpful for scheduling."
    )


def node_state(node: Mapping[str, Any], ready: bool) -> NodeState:
    spec = node.get("spec") or {}
    allocatable = parse_resource_list((node.get("status") or {}).get("allocatable"))
    allocatable.setdefault("pods", parse_quantity("110"))
    return NodeState(
        name=node["metadata"]["name"],
        labels=node["metadata"].get("labels") or {},
        taints=tuple(spec.get("taints") or ()),
        allocatable=allocatable,
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
    )
