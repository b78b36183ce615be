"""Scheduling preferences as tiebreaks: among the offerings of a launch that cost the same, the one
its pods prefer goes first.

kube-scheduler scores nodes by the weights of a pod's preferred node affinity terms the node
matches, and of its preferred pod affinity (anti-affinity: minus) terms whose pods share the node's
domain (https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/). A preference
never binds, so here it never costs: after packing, each launch's offerings of the same effective
price as its chosen one are reordered by the summed score of the launch's pods - on any label a new
node of the offering will carry (instance type, capacity type, architecture, zone, the policy's own
node labels). A more expensive offering is never chosen for a preference. Zone preferences of
pods pinned to a zone were already weighed in `topology`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from engines.kube import labels as wk
from engines.kube.affinity import WeightedNodeTerm, WeightedPodTerm
from engines.kube.labels import canonical_key
from engines.planner.catalog import Catalog
from engines.planner.policy import PlannerPolicy
from engines.planner.results import Launch, OfferingChoice, Plan
from engines.planner.table import type_labels
from engines.planner.types import PodRequest, Snapshot

PRICE_DIGITS = 9  # offerings whose effective prices agree to 1e-9 $/h tie (as the assembler rounds)


def prefer(result: Plan, snapshot: Snapshot, catalog: Catalog, policy: PlannerPolicy) -> Plan:
    """`result` with each launch's equally cheap offerings ordered by its pods' preferences."""
    pods = {
        pod.uid: pod for pod in snapshot.pods if pod.preferred_node_affinity or pod.preferred_pod_affinity
    }
    if not pods:
        return result
    scorer = _Scorer(snapshot, catalog, policy)
    launches = tuple(
        scorer.reorder(launch, [pods[uid] for uid in launch.pod_uids if uid in pods])
        for launch in result.launches
    )
    return replace(result, launches=launches)


class _Scorer:
    def __init__(self, snapshot: Snapshot, catalog: Catalog, policy: PlannerPolicy) -> None:
        self.snapshot = snapshot
        self.types = {t.name: t for t in catalog.instance_types}
        self.base = {canonical_key(k): v for k, v in policy.node_labels.items()}
        self.base.update({wk.REGION: catalog.region, wk.OS: "linux"})
        self.node_labels = {node.name: node.labels for node in snapshot.cluster_nodes}

    def labels(self, choice: OfferingChoice) -> dict[str, str]:
        labels = dict(self.base)
        instance_type = self.types.get(choice.instance_type)
        if instance_type is not None:
            labels.update(type_labels(instance_type))
        labels[wk.INSTANCE_TYPE] = choice.instance_type
        labels[wk.ZONE] = choice.zone
        if choice.capacity_type.is_instance:
            labels[wk.CAPACITY_TYPE] = choice.capacity_type.aws_value
        return labels

    def reorder(self, launch: Launch, pods: list[PodRequest]) -> Launch:
        if not pods or launch.serverless:
            return launch
        cheapest = _price(launch.chosen)
        tied = [c for c in launch.offerings if _price(c) == cheapest]
        if len(tied) < 2:
            return launch
        scores = {id(c): sum(self.score(pod, self.labels(c)) for pod in pods) for c in tied}
        best = max(tied, key=lambda c: scores[id(c)])  # the first of the best: the assembler's order
        if scores[id(best)] == scores[id(launch.chosen)]:
            return launch
        offerings = (best, *(c for c in launch.offerings if c is not best))
        reason = (
            f"{best.describe()} costs the same as {launch.chosen.describe()} and matches its pods' "
            f"scheduling preferences; {launch.decision.reason}"
        )
        return replace(
            launch, offerings=offerings, decision=replace(launch.decision, chosen=best, reason=reason)
        )

    def score(self, pod: PodRequest, labels: Mapping[str, str]) -> int:
        return sum(_node_score(w, labels) for w in pod.preferred_node_affinity) + sum(
            self._pod_score(pod, w, labels) for w in pod.preferred_pod_affinity
        )

    def _pod_score(self, pod: PodRequest, weighted: WeightedPodTerm, labels: Mapping[str, str]) -> int:
        term = weighted.term
        key = canonical_key(term.topology_key)
        value = labels.get(key)
        if value is None or key == wk.HOSTNAME:
            return 0  # a new node holds no running pod
        for placed in self.snapshot.placed:
            node = self.node_labels.get(placed.node_name, {})
            if node.get(key) == value and term.matches(placed.namespace, placed.labels):
                return weighted.weight
        return 0


def _price(choice: OfferingChoice) -> tuple[float, float]:
    """What an offering costs, billed and effective: a tie only when both agree."""
    return (
        round(choice.price_per_hour, PRICE_DIGITS),
        round(choice.effective_price_per_hour, PRICE_DIGITS),
    )


def _node_score(weighted: WeightedNodeTerm, labels: Mapping[str, str]) -> int:
    expressions = weighted.term.match_expressions
    if expressions and all(r.matches_value(labels.get(canonical_key(r.key))) for r in expressions):
        return weighted.weight
    return 0
