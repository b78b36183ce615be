"""Inter-pod scheduling rules as kube-scheduler reads them: pod affinity and anti-affinity terms,
topology spread constraints and host ports, parsed from a pod's JSON once, and matched one way
everywhere (the planner's topology pass and the bind-time check, `engines.kube.predicate`).

Semantics followed (https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#inter-pod-affinity-and-anti-affinity,
https://kubernetes.io/docs/concepts/scheduling-eviction/topology-spread-constraints/):

- a term's `labelSelector` that is null matches no pod; an empty one (`{}`) matches every pod;
- a term covers `namespaces` and the namespaces its `namespaceSelector` picks; with neither, the
  namespace of the pod that carries the term. A non-empty `namespaceSelector` needs namespace
  labels, which a pod view does not have: it is read as "every namespace", which errs on the side
  of keeping pods apart (anti-affinity) and is named in the reason when it blocks;
- a topology spread constraint's selector is extended by `matchLabelKeys` with the pod's own values;
  `nodeAffinityPolicy` defaults to Honor and `nodeTaintsPolicy` to Ignore;
- host ports conflict on the same port and protocol when either host IP is the wildcard or both are
  equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engines.kube.labels import NodeSelectorRequirement, NodeSelectorTerm, Operator

Json = Mapping[str, Any]
WILDCARD_IP = "0.0.0.0"
DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"


@dataclass(frozen=True, slots=True)
class PodSelector:
    """A label selector over pod labels; hashable (labels as sorted pairs)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[NodeSelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in self.match_labels) and all(
            requirement.matches_value(labels.get(requirement.key)) for requirement in self.match_expressions
        )

    def describe(self) -> str:
        parts = [f"{key}={value}" for key, value in self.match_labels]
        parts += [requirement.describe() for requirement in self.match_expressions]
        return ",".join(parts) or "every pod"


def pod_selector(raw: Json | None) -> PodSelector | None:
    """A `labelSelector` as written; None for a null selector (it matches nothing)."""
    if raw is None:
        return None
    return PodSelector(
        tuple(sorted((str(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items())),
        tuple(
            NodeSelectorRequirement(str(e["key"]), Operator(e["operator"]), tuple(e.get("values") or ()))
            for e in raw.get("matchExpressions") or ()
        ),
    )


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """One required pod (anti-)affinity term of a pod in namespace `owner_namespace`."""

    selector: PodSelector | None
    topology_key: str
    namespaces: frozenset[str]
    all_namespaces: bool = False

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether a pod in `namespace` with `labels` is one this term is about."""
        if self.selector is None:
            return False
        if not self.all_namespaces and namespace not in self.namespaces:
            return False
        return self.selector.matches(labels)

    def describe(self) -> str:
        selector = self.selector.describe() if self.selector is not None else "no pod"
        return f"pods {selector} per {self.topology_key}"


def affinity_term(raw: Json, owner_namespace: str) -> AffinityTerm:
    namespaces = frozenset(str(n) for n in raw.get("namespaces") or ())
    namespace_selector = raw.get("namespaceSelector")
    every = namespace_selector is not None  # {} selects every namespace; see the module doc otherwise
    if not namespaces and namespace_selector is None:
        namespaces = frozenset({owner_namespace})
    return AffinityTerm(
        pod_selector(raw.get("labelSelector")), str(raw.get("topologyKey") or ""), namespaces, every
    )


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: PodSelector | None
    min_domains: int | None = None
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE

    @property
    def hard(self) -> bool:
        return self.when_unsatisfiable == DO_NOT_SCHEDULE

    def counts(self, namespace: str, owner_namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether a pod is counted by this constraint (same namespace as its owner, selector match)."""
        return namespace == owner_namespace and self.selector is not None and self.selector.matches(labels)

    def describe(self) -> str:
        selector = self.selector.describe() if self.selector is not None else "no pod"
        return f"maxSkew {self.max_skew} of pods {selector} over {self.topology_key}"


def spread_constraint(raw: Json, pod_labels: Mapping[str, str]) -> SpreadConstraint:
    selector = pod_selector(raw.get("labelSelector"))
    keys = [str(k) for k in raw.get("matchLabelKeys") or () if k in pod_labels]
    if selector is not None and keys:
        extra = tuple((key, str(pod_labels[key])) for key in keys)
        selector = PodSelector(tuple(sorted({*selector.match_labels, *extra})), selector.match_expressions)
    min_domains = raw.get("minDomains")
    return SpreadConstraint(
        max_skew=int(raw.get("maxSkew") or 1),
        topology_key=str(raw.get("topologyKey") or ""),
        when_unsatisfiable=str(raw.get("whenUnsatisfiable") or DO_NOT_SCHEDULE),
        selector=selector,
        min_domains=int(min_domains) if min_domains is not None else None,
        node_affinity_policy=str(raw.get("nodeAffinityPolicy") or HONOR),
        node_taints_policy=str(raw.get("nodeTaintsPolicy") or IGNORE),
    )


@dataclass(frozen=True, slots=True)
class HostPort:
    port: int
    protocol: str = "TCP"
    host_ip: str = WILDCARD_IP

    def conflicts(self, other: HostPort) -> bool:
        if self.port != other.port or self.protocol != other.protocol:
            return False
        return WILDCARD_IP in (self.host_ip, other.host_ip) or self.host_ip == other.host_ip

    def describe(self) -> str:
        return f"{self.host_ip}:{self.port}/{self.protocol}"


def host_ports(spec: Json) -> frozenset[HostPort]:
    """The host ports a pod's containers (sidecars and init containers included) claim."""
    found = set()
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        for port in container.get("ports") or ():
            if port.get("hostPort"):
                found.add(
                    HostPort(
                        int(port["hostPort"]),
                        str(port.get("protocol") or "TCP"),
                        str(port.get("hostIP") or WILDCARD_IP),
                    )
                )
    return frozenset(found)


def ports_conflict(ours: frozenset[HostPort], theirs: frozenset[HostPort]) -> HostPort | None:
    """The first of our ports one of theirs conflicts with, if any."""
    return next((port for port in sorted(ours, key=str) for other in theirs if port.conflicts(other)), None)


def required_terms(spec: Json, kind: str, owner_namespace: str) -> tuple[AffinityTerm, ...]:
    """`kind` is "podAffinity" or "podAntiAffinity"."""
    section = (spec.get("affinity") or {}).get(kind) or {}
    raw_terms: Sequence[Json] = section.get("requiredDuringSchedulingIgnoredDuringExecution") or ()
    return tuple(affinity_term(term, owner_namespace) for term in raw_terms)


def spread_constraints(spec: Json, pod_labels: Mapping[str, str]) -> tuple[SpreadConstraint, ...]:
    return tuple(spread_constraint(raw, pod_labels) for raw in spec.get("topologySpreadConstraints") or ())


@dataclass(frozen=True, slots=True)
class WeightedNodeTerm:
    """A preferred node-affinity term: nodes matching it score `weight` (1-100) more."""

    weight: int
    term: NodeSelectorTerm


@dataclass(frozen=True, slots=True)
class WeightedPodTerm:
    """A preferred pod affinity (`weight` > 0) or anti-affinity (`weight` < 0) term: a domain holding
    pods it is about scores that much more (or less)."""

    weight: int
    term: AffinityTerm


def preferred_pod_terms(spec: Json, owner_namespace: str) -> tuple[WeightedPodTerm, ...]:
    """Preferred pod affinity and anti-affinity terms, anti-affinity with negative weights."""
    found = []
    for kind, sign in (("podAffinity", 1), ("podAntiAffinity", -1)):
        section = (spec.get("affinity") or {}).get(kind) or {}
        for raw in section.get("preferredDuringSchedulingIgnoredDuringExecution") or ():
            term = raw.get("podAffinityTerm") or {}
            found.append(
                WeightedPodTerm(sign * int(raw.get("weight") or 1), affinity_term(term, owner_namespace))
            )
    return tuple(found)
