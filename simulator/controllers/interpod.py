"""kube-scheduler's rules between pods, as its filter plugins apply them (pure, on JSON):

- InterPodAffinity: every required pod-affinity term needs a pod it selects in the node's domain of
  the term's topology key (unless no pod anywhere matches and the pod matches its own terms); no
  required anti-affinity term may select a pod in the node's domain; and no pod already placed may
  have an anti-affinity term that selects this pod in the node's domain;
- PodTopologySpread: for each `DoNotSchedule` constraint, the node's domain may hold at most
  `maxSkew` more selected pods (counting this one) than the emptiest domain, domains being the
  nodes that pass `nodeAffinityPolicy` (default Honor) and `nodeTaintsPolicy` (default Ignore);
  fewer domains than `minDomains` make the minimum zero;
- NodePorts: a host port (port, protocol, host IP) may be used once per node.

Written from the Kubernetes documentation, independently of the product (the simulator imports
nothing of it), so it can be the oracle the product's plans are checked against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Json = Mapping[str, Any]
WILDCARD = "0.0.0.0"


@dataclass(frozen=True)
class PlacedPod:
    """A pod bound to a node (or just bound in this pass), with the node's labels."""

    pod: Json
    node_name: str
    node_labels: Mapping[str, str]


def _labels(pod: Json) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def _namespace(pod: Json) -> str:
    return str((pod.get("metadata") or {}).get("namespace") or "default")


def _expression(expression: Json, labels: Mapping[str, str]) -> bool:
    key, operator = str(expression.get("key") or ""), expression.get("operator")
    values = expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def selector_matches(selector: Json | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: null matches nothing, {} matches everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_expression(e, labels) for e in selector.get("matchExpressions") or ())


def _term_selects(term: Json, owner: Json, other: Json) -> bool:
    namespaces = term.get("namespaces") or []
    if term.get("namespaceSelector") is None:
        allowed = namespaces or [_namespace(owner)]
        if _namespace(other) not in allowed:
            return False
    # A namespaceSelector needs Namespace labels; {} (every namespace) is the case modelled here.
    return selector_matches(term.get("labelSelector"), _labels(other))


def _required(pod: Json, kind: str) -> list[Json]:
    section = (((pod.get("spec") or {}).get("affinity") or {}).get(kind)) or {}
    return list(section.get("requiredDuringSchedulingIgnoredDuringExecution") or ())


def _same_domain(key: str, node_labels: Mapping[str, str], other_labels: Mapping[str, str]) -> bool:
    return key in node_labels and key in other_labels and node_labels[key] == other_labels[key]


def inter_pod_reasons(pod: Json, node_labels: Mapping[str, str], placed: Sequence[PlacedPod]) -> list[str]:
    """The InterPodAffinity filter's refusal for this node, if any."""
    affinity = _required(pod, "podAffinity")
    if affinity:
        anywhere = any(all(_term_selects(t, pod, p.pod) for t in affinity) for p in placed)
        for term in affinity:
            key = str(term.get("topologyKey") or "")
            here = any(
                _term_selects(term, pod, p.pod) and _same_domain(key, node_labels, p.node_labels)
                for p in placed
            )
            if here:
                continue
            itself = all(_term_selects(t, pod, pod) for t in affinity)
            if anywhere or not itself or key not in node_labels:
                return ["node(s) didn't match pod affinity rules"]
    for term in _required(pod, "podAntiAffinity"):
        key = str(term.get("topologyKey") or "")
        if any(
            _term_selects(term, pod, p.pod) and _same_domain(key, node_labels, p.node_labels) for p in placed
        ):
            return ["node(s) didn't match pod anti-affinity rules"]
    for other in placed:
        for term in _required(other.pod, "podAntiAffinity"):
            key = str(term.get("topologyKey") or "")
            if _term_selects(term, other.pod, pod) and _same_domain(key, node_labels, other.node_labels):
                return ["node(s) didn't satisfy existing pods anti-affinity rules"]
    return []


@dataclass(frozen=True)
class Domain:
    """A node as a topology-spread domain member: its labels, and whether the policies admit it."""

    name: str
    labels: Mapping[str, str]
    taints: Sequence[Json]


def _constraint_selector(constraint: Json, pod: Json) -> Json | None:
    selector = constraint.get("labelSelector")
    keys = [k for k in constraint.get("matchLabelKeys") or () if k in _labels(pod)]
    if selector is None or not keys:
        return selector
    match_labels = dict(selector.get("matchLabels") or {})
    match_labels.update({k: _labels(pod)[k] for k in keys})
    return {**selector, "matchLabels": match_labels}


def spread_reasons(
    pod: Json,
    node: Domain,
    nodes: Iterable[Domain],
    placed: Sequence[PlacedPod],
    admits: Any,
) -> list[str]:
    """The PodTopologySpread filter's refusal for this node, if any. `admits(constraint, domain)`
    applies the node inclusion policies (the caller has the affinity and taint predicates)."""
    hard = [
        c
        for c in (pod.get("spec") or {}).get("topologySpreadConstraints") or ()
        if (c.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule"
    ]
    if not hard:
        return []
    every = list(nodes)
    for constraint in hard:
        key = str(constraint.get("topologyKey") or "")
        if key not in node.labels:
            return ["node(s) didn't match pod topology spread constraints (missing required label)"]
        selector = _constraint_selector(constraint, pod)
        eligible = {d.name: d for d in every if key in d.labels and admits(constraint, d)}
        counts = {d.labels[key]: 0 for d in eligible.values()}
        for other in placed:
            if other.node_name not in eligible or _namespace(other.pod) != _namespace(pod):
                continue
            if (other.pod.get("metadata") or {}).get("deletionTimestamp"):
                continue
            if selector_matches(selector, _labels(other.pod)):
                counts[other.node_labels[key]] += 1
        minimum = min(counts.values(), default=0)
        min_domains = constraint.get("minDomains")
        if min_domains is not None and len(counts) < int(min_domains):
            minimum = 0
        itself = 1 if selector_matches(selector, _labels(pod)) else 0
        if counts.get(node.labels[key], 0) + itself - minimum > int(constraint.get("maxSkew") or 1):
            return ["node(s) didn't match pod topology spread constraints"]
    return []


def _ports(pod: Json) -> list[tuple[int, str, str]]:
    spec = pod.get("spec") or {}
    found = []
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        for port in container.get("ports") or ():
            if port.get("hostPort"):
                found.append(
                    (int(port["hostPort"]), port.get("protocol") or "TCP", port.get("hostIP") or WILDCARD)
                )
    return found


def port_reasons(pod: Json, on_node: Iterable[Json]) -> list[str]:
    """The NodePorts filter's refusal, if a wanted host port is already used on the node."""
    wanted = _ports(pod)
    if not wanted:
        return []
    for other in on_node:
        for port, protocol, ip in _ports(other):
            for want_port, want_protocol, want_ip in wanted:
                if (port, protocol) == (want_port, want_protocol) and (
                    WILDCARD in (ip, want_ip) or ip == want_ip
                ):
                    return ["node(s) didn't have free ports for the requested pod ports"]
    return []
