"""Karpenter's scheduling, re-implemented faithfully: the baseline the planner must beat.

Follows kubernetes-sigs/karpenter `pkg/controllers/provisioning/scheduling` (scheduler.go,
nodeclaim.go, queue.go) for the constraints the planner models:

1. Sort pods by CPU request descending, then memory descending, then creation order.
2. For each pod, first try existing nodes in order (ready nodes first, then by name).
3. Then try the planned node claims, first one that can take the pod wins: in the order they
   were opened (`NodeOrder.CREATION`, the issue's wording and the default), or fewest pods
   first as scheduler.go `add()` sorts them (`NodeOrder.FEWEST_PODS`). On every benchmark
   case creation order costs the same or less (karpenter-5k: 1404.6 against 1406.1 $/h), so
   it is the default: the stronger baseline. A claim takes the pod if some offering
   in its set still suits every pod on it and holds their summed requests; the set then
   shrinks to those offerings. Adding a pod never grows a set.
4. Otherwise open a new claim whose set is every offering that suits and holds the pod
   alone. Pods the policy isolates get a claim of their own that takes no other pod (what a
   hostname anti-affinity does in Karpenter).
5. Finally every claim launches the cheapest offering left in its set.

Karpenter has no serverless capacity, so the baseline never uses it. Its plans report a lower
bound of 0 (trivially valid): the baseline is timed, and the LP is not part of Karpenter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from engines.kube.resources import CPU, MEMORY
from engines.planner.assemble import Assembler, describe_load
from engines.planner.catalog import Catalog
from engines.planner.diagnose import diagnose
from engines.planner.policy import PlannerPolicy
from engines.planner.problem import Problem, Vector, compile_problem
from engines.planner.results import Binding, Launch, Plan, Unschedulable, UnschedulableCode
from engines.planner.table import BoolArray, IntArray
from engines.planner.types import Snapshot


class NodeOrder(StrEnum):
    FEWEST_PODS = "fewest_pods"
    CREATION = "creation"


@dataclass(slots=True)
class _Claim:
    """A planned node: its pods, their summed requests and the offerings still possible."""

    candidates: IntArray
    load: IntArray
    max_spare: list[int]
    pods: list[int] = field(default_factory=list)
    signatures: set[int] = field(default_factory=set)
    isolated: bool = False


def karpenter_plan(
    snapshot: Snapshot,
    policy: PlannerPolicy,
    catalog: Catalog,
    *,
    node_order: NodeOrder = NodeOrder.CREATION,
) -> Plan:
    return _Karpenter(compile_problem(snapshot, policy, catalog), node_order).run()


class _Karpenter:
    def __init__(self, problem: Problem, node_order: NodeOrder) -> None:
        self.problem = problem
        self.node_order = node_order
        self.alloc = problem.table.alloc
        self.claims: list[_Claim] = []
        self.spare = problem.existing.free.copy()
        nodes = problem.existing.nodes
        self.existing_order = np.array(
            sorted(range(len(nodes)), key=lambda i: (not nodes[i].ready, nodes[i].name)), dtype=np.int64
        )
        self.bindings: list[Binding] = []
        self.unschedulable: list[Unschedulable] = []
        self._existing_ok: dict[tuple[int, Vector], BoolArray] = {}

    def run(self) -> Plan:
        problem, pods = self.problem, self.problem.snapshot.pods
        for index, reason in problem.invalid:
            self.unschedulable.append(
                Unschedulable(pods[index].uid, UnschedulableCode.INVALID_REQUEST, reason)
            )
        for index, node in problem.reserved_bindings:
            self.bindings.append(Binding(pods[index].uid, node.name))
        isolated = {i for pod_class in problem.isolated for i in pod_class.pods}
        queue = [i for pod_class in problem.isolated + problem.packed for i in pod_class.pods]
        vectors = problem.pod_vectors
        queue.sort(key=lambda i: (-_vector(vectors[i])[CPU], -_vector(vectors[i])[MEMORY], i))
        for index in queue:
            self._schedule(index, index in isolated)
        return self._plan()

    def _schedule(self, index: int, isolated: bool) -> None:
        vector = _vector(self.problem.pod_vectors[index])
        signature = self.problem.pod_signature[index]
        if not isolated and (
            self._try_existing(index, signature, vector) or self._try_claims(index, signature, vector)
        ):
            return
        mask = self.problem.signatures.masks[signature]
        candidates = np.flatnonzero(mask & np.all(self.alloc >= np.array(vector), axis=1))
        if not len(candidates):
            constraints = self.problem.signatures.constraints[signature]
            code, reason = diagnose(self.problem, vector, constraints)
            self.unschedulable.append(Unschedulable(self.problem.snapshot.pods[index].uid, code, reason))
            return
        load = np.array(vector, dtype=np.int64)
        claim = _Claim(
            candidates, load, list(self.alloc[candidates].max(axis=0) - load), [index], {signature}, isolated
        )
        self.claims.append(claim)

    def _try_existing(self, index: int, signature: int, vector: Vector) -> bool:
        if not len(self.spare):
            return False
        key = (signature, vector)
        if key not in self._existing_ok:
            constraints = self.problem.signatures.constraints[signature]
            self._existing_ok[key] = self.problem.existing.compatible(constraints, vector)
        room = (self._existing_ok[key] & np.all(self.spare >= np.array(vector), axis=1))[self.existing_order]
        if not room.any():
            return False
        node = int(self.existing_order[np.argmax(room)])
        self.spare[node] -= np.array(vector)
        self.bindings.append(
            Binding(self.problem.snapshot.pods[index].uid, self.problem.existing.nodes[node].name)
        )
        return True

    def _try_claims(self, index: int, signature: int, vector: Vector) -> bool:
        claims = [c for c in self.claims if not c.isolated]
        if self.node_order is NodeOrder.FEWEST_PODS:
            claims.sort(key=lambda c: len(c.pods))
        mask = self.problem.signatures.masks[signature]
        for claim in claims:
            if any(v > s for v, s in zip(vector, claim.max_spare, strict=True)):
                continue  # no offering left in the set can hold it: skip the vectorized check
            load = claim.load + np.array(vector)
            candidates = claim.candidates
            keep = mask[candidates] & np.all(self.alloc[candidates] >= load, axis=1)
            if keep.any():
                claim.candidates = candidates[keep]
                claim.load = load
                claim.max_spare = list(self.alloc[claim.candidates].max(axis=0) - load)
                claim.pods.append(index)
                claim.signatures.add(signature)
                return True
        return False

    def _plan(self) -> Plan:
        assembler = Assembler(self.problem)
        launches: list[Launch] = []
        overhead = self.problem.snapshot.daemonset_overhead
        for claim in self.claims:
            # The set is every offering suiting all the claim's pods that holds its final load
            # (loads only grow), so claims alike in both share one ranking.
            ranked = assembler.node_ranked(
                claim.signatures,
                claim.load,
                rotation=len(launches),
                subject=describe_load(len(claim.pods), claim.load),
            )
            launches.append(
                assembler.launch(claim.pods, claim.load, ranked, reserved=claim.isolated, overhead=overhead)
            )
        return Plan(
            launches=tuple(launches),
            bindings=tuple(self.bindings),
            unschedulable=tuple(self.unschedulable),
            cost_per_hour=float(sum(launch.chosen.effective_price_per_hour for launch in launches)),
            billed_cost_per_hour=float(sum(launch.chosen.price_per_hour for launch in launches)),
            lp_lower_bound=0.0,
        )


def _vector(vector: Vector | None) -> Vector:
    if vector is None:
        raise ValueError("invalid pods never reach the queue")
    return vector
