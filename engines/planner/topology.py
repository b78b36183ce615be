"""Inter-pod rules and volume topology, turned into what the packer understands: node requirements.

Before packing, every pending pod with a rule kube-scheduler enforces between pods (required pod
affinity and anti-affinity, topology spread, host ports) or a zonal volume is decided here, one pod
at a time (highest priority first), against the pods already running or planned on the cluster's
nodes (`Snapshot.placed`) and the pending pods decided before it:

- a topology key's domain that must be avoided becomes `key NotIn [values]` (existing nodes carry
  their labels; nodes in flight their zone and name), a domain that must be joined `key In [...]`;
- a zone-level rule (affinity, anti-affinity or a spread constraint on `topology.kubernetes.io/zone`,
  a volume's zones) picks one zone for the pod - for spread, a least-loaded zone whose skew stays
  within `maxSkew`, counting domains as kube-scheduler does (`minDomains`, `nodeAffinityPolicy`,
  `nodeTaintsPolicy`) - and pins the pod there, so the next pod counts it;
- a hostname-level rule among pending pods (anti-affinity, spread, a host port another pending pod
  also wants) gives the pod a node of its own: a new node holds that one pod, so no pod it could
  conflict with shares it (like Karpenter's one-pod-per-node result for self anti-affinity);
- a pod that must join pending pods on one host (required hostname affinity, no match running yet)
  is planned first alone; the others wait for it to run and are then pinned to its node - the same
  order kube-scheduler would bind them in;
- volumes count against attach limits (a node's CSINode count; for a node in flight or a new one,
  its instance type's count): an existing or in-flight node without room for every pending pod's
  volumes is avoided by pods with volumes, and so is an instance type attaching fewer than a new
  node may be given; a pod with more volumes than a new node can attach (or for which only such
  types are sold where it may go) gets a node of its own of a type that can attach them, or is
  reported when no such type is sold there; and when the pending pods' volumes together exceed what one new
  node can attach, pods with volumes up to that limit are packed as usual and each other one gets
  a node of its own (the packer does not count volumes, so this keeps every node within its limit:
  it may cost nodes, it never strands a pod);
- preferences (preferred node affinity on the zone, preferred pod affinity and anti-affinity on
  the zone) never add a constraint, so they never cost anything: they only order the zones a
  pod pinned by a required rule may take and that tie on spread load (kube-scheduler then scores
  among the nodes that exist);
- a pod no domain can take is reported with the rule that blocks it.

Pods without such rules, in clusters where no running pod has anti-affinity, skip all of this.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from engines.kube.affinity import AffinityTerm, SpreadConstraint, ports_conflict
from engines.kube.labels import (
    HOSTNAME,
    INSTANCE_TYPE,
    ZONE,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Operator,
    canonical_key,
    untolerated_taints,
)
from engines.planner.catalog import Offering
from engines.planner.results import Unschedulable, UnschedulableCode
from engines.planner.types import ClusterNode, PodRequest, Snapshot

LabelKey = tuple[str, frozenset[tuple[str, str]]]  # (namespace, labels): pods that look alike


def _look(namespace: str, labels: Mapping[str, str]) -> LabelKey:
    return namespace, frozenset(labels.items())


@dataclass
class _Decided:
    """What the pass knows so far: placed pods by look and the domains they sit in, pending pods
    decided earlier by look (zone counts, alone), and their zone-level anti-affinity terms."""

    nodes: Mapping[str, ClusterNode]
    placed: dict[LabelKey, list[str]] = field(default_factory=dict)
    placed_anti: list[tuple[AffinityTerm, str]] = field(default_factory=list)
    pending_zones: dict[LabelKey, Counter[str]] = field(default_factory=dict)
    pending_order: list[LabelKey] = field(default_factory=list)  # the keys of pending_zones, in order
    pending_about: dict[tuple[AffinityTerm | SpreadConstraint, str], tuple[int, list[LabelKey]]] = field(
        default_factory=dict
    )
    pending_anti: list[tuple[AffinityTerm, str]] = field(default_factory=list)
    pending_looks: set[LabelKey] = field(default_factory=set)
    matches: dict[tuple[AffinityTerm | SpreadConstraint, str, LabelKey], bool] = field(default_factory=dict)
    every_look: set[LabelKey] = field(default_factory=set)  # of every pending pod, decided or not
    pending_volumes: int = 0  # the attachable volumes of every pending pod
    # What pods with volumes packed like any other pods may still mount together (None: not needed).
    volume_budget: int | None = None
    small_types: list[str] | None = None  # instance types pods with volumes avoid (once computed)
    type_zones: Mapping[str, frozenset[str]] | None = None  # where each type is sold (None: anywhere)

    def types_sold(self, zones: Iterable[str], named: Iterable[str]) -> list[str]:
        """The instance types sold in one of the zones (where that is not known: the `named` ones
        and "", standing for any other)."""
        if self.type_zones is None:
            return [*named, ""]
        wanted = set(zones)
        return [name for name, sold in self.type_zones.items() if sold & wanted]

    def value(self, node_name: str, key: str) -> str | None:
        node = self.nodes.get(node_name)
        if node is None:
            return None
        if key == HOSTNAME:
            return node.labels.get(HOSTNAME, node.name)
        return node.labels.get(key)

    def about(self, term: AffinityTerm | SpreadConstraint, owner_namespace: str, look: LabelKey) -> bool:
        """Whether pods that look like `look` are ones the term is about (memoized: a batch has
        a few looks and a few terms, asked about thousands of times)."""
        key = (term, owner_namespace, look)
        known = self.matches.get(key)
        if known is None:
            known = self.matches[key] = _about(term, owner_namespace, look[0], dict(look[1]))
        return known

    def placed_values(self, term: AffinityTerm | SpreadConstraint, owner_namespace: str) -> Counter[str]:
        """How many placed pods the term is about, per value of its topology key."""
        found: Counter[str] = Counter()
        for look, node_names in self.placed.items():
            if not self.about(term, owner_namespace, look):
                continue
            for node_name in node_names:
                value = self.value(node_name, term.topology_key)
                if value is not None:
                    found[value] += 1
        return found

    def pending_in_zones(self, term: AffinityTerm | SpreadConstraint, owner_namespace: str) -> Counter[str]:
        """How many pending pods decided so far the term is about, per zone. The looks it is
        about are kept per term and only the looks added since its last call are asked about
        (pods are decided one at a time, a batch has a few terms)."""
        key = (term, owner_namespace)
        asked, about = self.pending_about.get(key, (0, []))
        looks = self.pending_order
        about = about + [look for look in looks[asked:] if self.about(term, owner_namespace, look)]
        self.pending_about[key] = (len(looks), about)
        found: Counter[str] = Counter()
        for look in about:
            found.update(self.pending_zones[look])
        return found

    def add_pending_zone(self, look: LabelKey, zone: str) -> None:
        if look not in self.pending_zones:
            self.pending_zones[look] = Counter()
            self.pending_order.append(look)
        self.pending_zones[look][zone] += 1

    def pending_matches(self, term: AffinityTerm, owner_namespace: str) -> bool:
        return any(self.about(term, owner_namespace, look) for look in self.pending_looks)


def _about(
    term: AffinityTerm | SpreadConstraint, owner_namespace: str, namespace: str, labels: Mapping[str, str]
) -> bool:
    if isinstance(term, SpreadConstraint):
        return term.counts(namespace, owner_namespace, labels)
    return term.matches(namespace, labels)


class _Blocked(Exception):
    def __init__(self, code: UnschedulableCode, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass
class _Decision:
    """The requirements one pod gains, the zones it may still take, and whether it needs a node alone."""

    zones: list[str]
    requirements: list[NodeSelectorRequirement] = field(default_factory=list)
    alone: bool = False
    pin_zone: bool = False
    spread_zone: tuple[SpreadConstraint, ...] = ()

    def avoid(self, key: str, values: Iterable[str]) -> None:
        values = sorted(set(values))
        if not values:
            return
        self.requirements.append(NodeSelectorRequirement(key, Operator.NOT_IN, tuple(values)))
        if key == ZONE:
            self.zones = [zone for zone in self.zones if zone not in values]

    def join(self, key: str, values: Iterable[str]) -> None:
        values = sorted(set(values))
        self.requirements.append(NodeSelectorRequirement(key, Operator.IN, tuple(values)))
        if key == ZONE:
            self.zones = [zone for zone in self.zones if zone in values]


def apply_topology(
    snapshot: Snapshot, zones: Iterable[str], offerings: Iterable[Offering] = ()
) -> tuple[Snapshot, list[Unschedulable]]:
    """The snapshot with every pod's inter-pod rules and volume zones as node requirements (and
    `isolate` for a pod that needs a node alone), and the pods no domain can take. `offerings`
    (the catalog's) say where each instance type is sold, for the attach limits of types."""
    pods = snapshot.pods
    # Anti-affinity works both ways: a pod without rules must keep out of the domains of placed
    # pods' anti-affinity, and of pending pods' zone-level one (hostname-level ones get nodes alone).
    inverse = any(placed.anti_affinity for placed in snapshot.placed) or any(
        term.topology_key != HOSTNAME for pod in pods for term in pod.pod_anti_affinity
    )
    if not inverse and not any(pod.has_topology_rules for pod in pods):
        return snapshot, []
    decided = _Decided({node.name: node for node in snapshot.cluster_nodes})
    decided.every_look = {_look(pod.namespace, pod.labels) for pod in pods}
    decided.pending_volumes = sum(pod.attachable_volumes for pod in pods)
    if decided.pending_volumes and snapshot.type_attach_limits and offerings:
        sold: dict[str, set[str]] = {}
        for offering in offerings:
            sold.setdefault(offering.instance_type, set()).add(offering.zone)
        decided.type_zones = {name: frozenset(found) for name, found in sold.items()}
    for placed in snapshot.placed:
        decided.placed.setdefault(_look(placed.namespace, placed.labels), []).append(placed.node_name)
        decided.placed_anti.extend((term, placed.node_name) for term in placed.anti_affinity)
    every_zone = sorted(snapshot.allowed_zones or zones)
    # Pods with rules first (by priority): the pods without any then see every zone they pinned.
    rules = [pod.has_topology_rules for pod in pods]
    order = sorted(range(len(pods)), key=lambda i: (not rules[i], -pods[i].priority))
    result: list[PodRequest | None] = list(pods)
    blocked: list[Unschedulable] = []
    for index in order:
        pod = pods[index]
        if not rules[index] and not inverse:
            continue
        try:
            result[index] = _decide(pod, snapshot, decided, every_zone)
        except _Blocked as refusal:
            result[index] = None
            blocked.append(Unschedulable(pod.uid, refusal.code, refusal.reason))
    kept = tuple(pod for pod in result if pod is not None)
    return replace(snapshot, pods=kept), blocked


def _decide(pod: PodRequest, snapshot: Snapshot, decided: _Decided, every_zone: list[str]) -> PodRequest:
    restricted = ZONE in pod.node_selector or pod.required_node_affinity
    decision = _Decision(
        zones=[z for z in every_zone if _zone_allowed(pod, z)] if restricted else list(every_zone)
    )
    if pod.volume_zones is not None:
        decision.join(ZONE, pod.volume_zones)
        if not decision.zones:
            raise _Blocked(
                UnschedulableCode.VOLUME_ZONE,
                f"its volumes are in zones {','.join(sorted(pod.volume_zones)) or 'none'}, where it may not "
                "get a node (volume node affinity)",
            )
    _inverse_anti_affinity(pod, decided, decision)
    _anti_affinity(pod, decided, decision)
    _affinity(pod, decided, decision)
    _host_ports(pod, snapshot, decided, decision)
    _attach_limits(pod, snapshot, decided, decision)
    _spread(pod, snapshot, decided, decision)
    zone = _choose_zone(pod, decided, decision) if decision.pin_zone else None
    look = _look(pod.namespace, pod.labels)
    decided.pending_looks.add(look)
    if zone is not None:
        decided.add_pending_zone(look, zone)
        decided.pending_anti.extend(
            (term, zone) for term in pod.pod_anti_affinity if term.topology_key == ZONE
        )
    return replace(
        pod,
        required_node_affinity=_and(pod.required_node_affinity, decision.requirements),
        isolate=pod.isolate or decision.alone,
    )


def _zone_allowed(pod: PodRequest, zone: str) -> bool:
    """Whether the pod's own selector and node affinity allow the zone (other keys aside)."""
    if pod.node_selector.get(ZONE, zone) != zone:
        return False
    if not pod.required_node_affinity:
        return True
    return any(
        all(r.matches_value(zone) for r in term.match_expressions if r.key == ZONE)
        for term in pod.required_node_affinity
    )


def _and(
    terms: tuple[NodeSelectorTerm, ...], extra: list[NodeSelectorRequirement]
) -> tuple[NodeSelectorTerm, ...]:
    if not extra:
        return terms
    if not terms:
        return (NodeSelectorTerm(tuple(extra)),)
    return tuple(NodeSelectorTerm((*term.match_expressions, *extra)) for term in terms)


def _inverse_anti_affinity(pod: PodRequest, decided: _Decided, decision: _Decision) -> None:
    """Running pods' anti-affinity keeps this pod out of their domains (kube-scheduler checks both ways)."""
    before = len(decision.zones)
    for term, node_name in decided.placed_anti:
        if term.matches(pod.namespace, pod.labels):
            value = decided.value(node_name, term.topology_key)
            if value is not None:
                decision.avoid(term.topology_key, [value])
    for term, zone in decided.pending_anti:
        if term.matches(pod.namespace, pod.labels):
            decision.avoid(ZONE, [zone])
            decision.pin_zone = True
    if before and not decision.zones:
        raise _Blocked(
            UnschedulableCode.POD_ANTI_AFFINITY,
            "the anti-affinity of pods already placed keeps it out of every zone",
        )


def _anti_affinity(pod: PodRequest, decided: _Decided, decision: _Decision) -> None:
    for term in pod.pod_anti_affinity:
        decision.avoid(term.topology_key, decided.placed_values(term, pod.namespace))
        if term.topology_key == ZONE:
            decision.avoid(ZONE, decided.pending_in_zones(term, pod.namespace))
            decision.pin_zone = True
            if not decision.zones:
                raise _Blocked(
                    UnschedulableCode.POD_ANTI_AFFINITY,
                    f"required pod anti-affinity: every zone it may use already has {term.describe()}",
                )
        elif term.topology_key == HOSTNAME:
            decision.alone = True
        elif decided.pending_matches(term, pod.namespace):
            raise _Blocked(
                UnschedulableCode.POD_ANTI_AFFINITY,
                f"required pod anti-affinity ({term.describe()}) waits for the pending pods it concerns to be placed",
            )


def _affinity(pod: PodRequest, decided: _Decided, decision: _Decision) -> None:
    for term in pod.pod_affinity:
        values = decided.placed_values(term, pod.namespace)
        if term.topology_key == ZONE:
            values.update(decided.pending_in_zones(term, pod.namespace))
            decision.pin_zone = True
        if values:
            decision.join(term.topology_key, values)
            if term.topology_key == ZONE and not decision.zones:
                raise _Blocked(
                    UnschedulableCode.POD_AFFINITY,
                    f"required pod affinity: the zones with {term.describe()} are not zones it may use",
                )
            continue
        if term.topology_key != ZONE and decided.pending_matches(term, pod.namespace):
            raise _Blocked(
                UnschedulableCode.POD_AFFINITY,
                f"required pod affinity ({term.describe()}): waits for the pending pod it must join to run",
            )
        if not term.matches(pod.namespace, pod.labels):
            waiting = any(decided.about(term, pod.namespace, look) for look in decided.every_look)
            raise _Blocked(
                UnschedulableCode.POD_AFFINITY,
                f"required pod affinity ({term.describe()}): waits for the pending pods it must join to run"
                if waiting
                else f"required pod affinity: no pod matches ({term.describe()})",
            )
        # The first pod of a group that matches its own term may go anywhere (kube-scheduler's rule).


def _host_ports(pod: PodRequest, snapshot: Snapshot, decided: _Decided, decision: _Decision) -> None:
    if not pod.host_ports:
        return
    taken = ports_conflict(pod.host_ports, snapshot.daemonset_host_ports)
    busy = [p.node_name for p in snapshot.placed if ports_conflict(pod.host_ports, p.host_ports)]
    decision.avoid(HOSTNAME, (decided.value(name, HOSTNAME) or name for name in busy))
    if taken is not None:
        raise _Blocked(
            UnschedulableCode.HOST_PORT, f"host port {taken.describe()} is taken by a daemonset on every node"
        )
    decision.alone = True  # another pending pod may want the same port: never share a new node


def _attach_limits(pod: PodRequest, snapshot: Snapshot, decided: _Decided, decision: _Decision) -> None:
    volumes = pod.attachable_volumes
    if not volumes:
        return
    full = [name for name, room in snapshot.attach_room.items() if room < decided.pending_volumes]
    decision.avoid(HOSTNAME, (decided.value(name, HOSTNAME) or name for name in full))
    limit = snapshot.attach_limit
    if limit is None:
        return
    by_type = snapshot.type_attach_limits
    if decided.small_types is None:
        # Types that attach fewer volumes than a packed node may be given are kept from volume pods.
        need = min(limit, decided.pending_volumes)
        decided.small_types = sorted(name for name, count in by_type.items() if count < need)
    small = set(decided.small_types)
    sold = decided.types_sold(decision.zones, by_type)
    if volumes <= limit and any(name not in small for name in sold):
        decision.avoid(INSTANCE_TYPE, small)
        if decided.pending_volumes > limit:
            if decided.volume_budget is None:
                decided.volume_budget = limit
            if volumes <= decided.volume_budget:
                decided.volume_budget -= volumes  # within the share pods with volumes may pack freely
            else:
                decision.alone = True
        return  # else however they are packed, no node gets more than the limit
    # A node of its own, of a type that attaches this pod's volumes (sold where it may go).
    if volumes > limit:
        decision.join(INSTANCE_TYPE, [name for name, count in by_type.items() if count >= volumes])
    else:
        decision.avoid(INSTANCE_TYPE, [name for name, count in by_type.items() if count < volumes])
    counts = [by_type.get(name, limit) for name in sold]
    if max(counts, default=0) < volumes:
        raise _Blocked(
            UnschedulableCode.VOLUME_LIMIT,
            f"it mounts {volumes} volumes and a new node can attach at most {max(counts, default=0)} "
            "(node volume limits)",
        )
    decision.alone = True


def _spread(pod: PodRequest, snapshot: Snapshot, decided: _Decided, decision: _Decision) -> None:
    for constraint in pod.spread:
        if constraint.topology_key == ZONE:
            decision.pin_zone = True
            decision.spread_zone += (constraint,)
        elif constraint.topology_key == HOSTNAME:
            if constraint.hard:
                decision.alone = True  # a node of its own never raises the skew above 1
        elif constraint.hard:
            raise _Blocked(
                UnschedulableCode.TOPOLOGY_SPREAD,
                f"topology spread over {constraint.topology_key} (hostname and zone are planned)",
            )


def _eligible(pod: PodRequest, constraint: SpreadConstraint, node: ClusterNode) -> bool:
    """Whether a node is a domain of the constraint (node inclusion policies)."""
    if constraint.node_affinity_policy == "Honor":
        if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
            return False
        if pod.required_node_affinity and not any(t.matches(node.labels) for t in pod.required_node_affinity):
            return False
    return not (constraint.node_taints_policy == "Honor" and untolerated_taints(node.taints, pod.tolerations))


def _choose_zone(pod: PodRequest, decided: _Decided, decision: _Decision) -> str:
    """The zone the pod is pinned to: for each spread constraint, a zone that keeps its skew within
    maxSkew (hard) and the least loaded (soft, as a preference); then the first by name."""
    candidates = list(decision.zones)
    load: Counter[str] = Counter()
    for constraint in decision.spread_zone:
        counts = decided.placed_values(constraint, pod.namespace)
        counts.update(decided.pending_in_zones(constraint, pod.namespace))
        domains = {
            n.labels[ZONE]
            for n in decided.nodes.values()
            if ZONE in n.labels and _eligible(pod, constraint, n)
        }
        domains.update(decision.zones)
        minimum = min((counts[d] for d in domains), default=0)
        if constraint.min_domains is not None and len(domains) < constraint.min_domains:
            minimum = 0
        if constraint.hard:
            candidates = [z for z in candidates if counts[z] + 1 - minimum <= constraint.max_skew]
        for zone in decision.zones:
            load[zone] += counts[zone]
        if not candidates:
            raise _Blocked(
                UnschedulableCode.TOPOLOGY_SPREAD,
                f"topology spread ({constraint.describe()}): every zone it may use would exceed the skew",
            )
    if not candidates:
        raise _Blocked(
            UnschedulableCode.POD_ANTI_AFFINITY, "no zone it may use is left by its pod (anti-)affinity"
        )
    if pod.preferred_node_affinity or pod.preferred_pod_affinity:
        zone = min(candidates, key=lambda z: (load[z], -_preference(pod, decided, z), z))
    else:  # every zone's preference score is 0
        zone = min(candidates, key=lambda z: (load[z], z))
    decision.join(ZONE, [zone])
    return zone


def _preference(pod: PodRequest, decided: _Decided, zone: str) -> int:
    """kube-scheduler's preference score of a zone for the pod: the weights of its preferred node
    affinity terms on the zone alone that the zone satisfies, plus (minus, for anti-affinity) those
    of its preferred pod terms per zone whose pods are in it. Only breaks ties (see the module doc)."""
    score = 0
    for weighted in pod.preferred_node_affinity:
        expressions = weighted.term.match_expressions
        if expressions and all(canonical_key(r.key) == ZONE and r.matches_value(zone) for r in expressions):
            score += weighted.weight
    for preferred in pod.preferred_pod_affinity:
        term = preferred.term
        if term.topology_key != ZONE:
            continue
        present = (
            decided.placed_values(term, pod.namespace)[zone]
            + decided.pending_in_zones(term, pod.namespace)[zone]
        )
        if present:
            score += preferred.weight
    return score
