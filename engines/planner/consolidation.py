"""Consolidation as a planner problem: which running nodes to remove, where their pods go and what
replaces them, decided by `plan()` itself (the same packing, pricing, constraints and limits as a
launch), with the $/h each move saves per pod it moves.

Algorithm (one scan, every node a candidate):

1. Every node is evaluated at once (vectorised): the load of its pods (the planner's request
   vectors) and the billed price of the cheapest instance type that could hold that load alone.
   Its estimated saving is its price less that one: an underused node, or one a cheaper type
   could replace, saves much; a well-used node of the cheapest type saves nothing, unless its
   pods all fit in the free room of one node that stays (then its whole price). Nodes whose
   estimate reaches the threshold share of their price are candidates (they may leave), best
   estimated saving per pod moved first; the others stay.
2. Sets are grown greedily along that order (1, 2, 4, ... pods, then `pods_per_set` pods each),
   and each set is one `plan()`: its pods onto the free room of the nodes that stay and of the candidates not
   planned yet (the `receivers_per_set` with the most room for the set's pods), and onto new
   nodes. A candidate that takes pods stays. A few dozen plans of a hundred pods replace
   Karpenter's one simulation per candidate, and keep every plan small (the planner's LP grows
   with pod classes times existing nodes).
3. A set's plan splits into independent moves: nodes whose pods share a new node move together,
   a node whose pods go only to other nodes or to its own new nodes moves alone. A move is kept
   when it saves at least `min_saving_share` of what its nodes cost, places every pod (nothing
   left pending, nothing serverless) and keeps the whole cluster within the policy's limits.
   Kept moves take the room they were given (later sets see what is left) and never take pods
   from a node that received some, so any subset of the kept moves can be applied; nodes of
   declined moves stay and take later sets' pods.

Estimates only order the candidates; every saving reported comes from a plan.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from engines.kube.resources import Resources
from engines.planner.assemble import vector_resources
from engines.planner.catalog import Catalog
from engines.planner.engine import plan
from engines.planner.limits import Usage, launch_vcpu
from engines.planner.packing import how_many_fit
from engines.planner.policy import Limits, PlannerPolicy
from engines.planner.problem import pod_vector
from engines.planner.results import Binding, Launch, Plan
from engines.planner.table import FloatArray, offering_table
from engines.planner.types import ExistingNode, PodRequest, Snapshot

# A move must save at least this share of what its nodes cost (the policy's default).
DEFAULT_MIN_SAVING_SHARE = 0.10
# Nodes compared against instance types in blocks, so the comparison stays a few MB.
_ESTIMATE_BLOCK = 256
_NO_OVERHEAD = Resources()


@dataclass(frozen=True, slots=True)
class RunningNode:
    """A node as consolidation sees it: the planner's view of it (its free room and what it is
    billed) and the pods that would have to move. `movable=False` keeps it (a pod that may not be
    evicted, a node too young): it is no candidate, but its free room still takes pods."""

    node: ExistingNode
    pods: tuple[PodRequest, ...] = ()
    movable: bool = True


@dataclass(frozen=True, slots=True)
class ConsolidationRules:
    """`min_saving_share`: a move saving less than this share of its nodes' cost is not worth the
    disruption. `pods_per_set` and `receivers_per_set` bound the size of each plan.
    `one_replacement`: the caller launches at most one node per move (the provisioning loop drains
    a move's nodes once its replacement is Ready, as Karpenter), so a move of several nodes that
    needs several new ones is planned again node by node, and a node that alone needs several new
    ones stays. `max_nodes_removed`: the scan stops planning once its
    moves remove that many nodes (a caller with a disruption budget acts on no more)."""

    min_saving_share: float = DEFAULT_MIN_SAVING_SHARE
    pods_per_set: int = 100
    receivers_per_set: int = 200
    one_replacement: bool = False
    max_nodes_removed: float = math.inf


DEFAULT_RULES = ConsolidationRules()


@dataclass(frozen=True, slots=True)
class Move:
    """Nodes removed together: their pods bound to remaining nodes or to the replacement launches."""

    nodes: tuple[str, ...]
    pod_uids: tuple[str, ...]
    bindings: tuple[Binding, ...]
    launches: tuple[Launch, ...]
    cost_before: float  # billed $/h of the nodes removed
    cost_after: float  # billed $/h of the replacements
    refusal: str = ""  # why it is not proposed (empty: proposed)

    @property
    def saving(self) -> float:
        return self.cost_before - self.cost_after

    @property
    def pods_moved(self) -> int:
        return len(self.pod_uids)

    @property
    def saving_per_pod(self) -> float:
        """$/h saved per pod moved (an empty node counts as one pod: it ranks by its whole price)."""
        return self.saving / max(self.pods_moved, 1)


@dataclass(frozen=True, slots=True)
class ConsolidationPlan:
    """The moves proposed (each above the threshold), the ones declined with why, and the scan's
    effort: every node is a candidate evaluated; `sets_planned` plans were run."""

    moves: tuple[Move, ...]
    declined: tuple[Move, ...]
    candidates_evaluated: int
    sets_planned: int
    cost_before: float  # billed $/h of every node
    estimates: dict[str, float] = field(default_factory=dict)  # node -> estimated $/h saving

    @property
    def saving(self) -> float:
        return float(sum(move.saving for move in self.moves))

    @property
    def cost_after(self) -> float:
        return self.cost_before - self.saving

    @property
    def pods_moved(self) -> int:
        return sum(move.pods_moved for move in self.moves)


def consolidate(
    nodes: Sequence[RunningNode],
    policy: PlannerPolicy,
    catalog: Catalog,
    *,
    daemonset_overhead: Resources = _NO_OVERHEAD,
    region: str = "",
    rules: ConsolidationRules = DEFAULT_RULES,
) -> ConsolidationPlan:
    """One scan over `nodes` (see the module docstring)."""
    names = [running.node.name for running in nodes]
    if len(set(names)) != len(names):
        raise ValueError("node names must be unique")
    scan = _Scan(nodes, policy, catalog, daemonset_overhead, region, rules)
    return scan.run()


class _Scan:
    def __init__(
        self,
        nodes: Sequence[RunningNode],
        policy: PlannerPolicy,
        catalog: Catalog,
        overhead: Resources,
        region: str,
        rules: ConsolidationRules,
    ) -> None:
        self.nodes = list(nodes)
        self.policy, self.catalog, self.overhead, self.region, self.rules = (
            policy,
            catalog,
            overhead,
            region,
            rules,
        )
        self.vcpu_by_type = {t.name: t.vcpu for t in catalog.instance_types}
        self.sets_planned = 0
        self.usage = Usage(
            vcpu=float(sum(self.vcpu_by_type.get(r.node.instance_type, 0) for r in self.nodes)),
            nodes=len(self.nodes),
            cost_per_hour=float(sum(r.node.price_per_hour for r in self.nodes)),
        )

    def run(self) -> ConsolidationPlan:
        estimates = self._estimates()
        order = self._candidates(estimates)
        leaving = set(order)
        # Nodes that stay (with the room kept moves left them), and candidates not planned yet:
        # both take pods; a candidate that takes some stays from then on.
        self.receivers = {r.node.name: r.node for i, r in enumerate(self.nodes) if i not in leaving}
        self.waiting = {self.nodes[i].node.name: self.nodes[i] for i in order}
        self.kept: list[Move] = []
        self.declined: list[Move] = []
        self.set_pods = 1
        for index in order:
            if sum(len(move.nodes) for move in self.kept) >= self.rules.max_nodes_removed:
                break  # the caller acts on no more than that: planning further is wasted
            chunk = self._next_set(self.nodes[index])
            if chunk:
                self._evaluate(chunk)
        return ConsolidationPlan(
            moves=tuple(self.kept),
            declined=tuple(self.declined),
            candidates_evaluated=len(self.nodes),
            sets_planned=self.sets_planned,
            cost_before=float(sum(running.node.price_per_hour for running in self.nodes)),
            estimates={self.nodes[i].node.name: float(estimates[i]) for i in range(len(self.nodes))},
        )

    def _next_set(self, first: RunningNode) -> list[RunningNode]:
        """From `first` on, the waiting candidates in order (empty when `first` was planned already or
        took pods). The first sets are small, so the best candidates may also go to the next ones'
        free room; sets then double up to `pods_per_set` pods."""
        if first.node.name not in self.waiting:
            return []
        chunk: list[RunningNode] = []
        pods = 0
        limit = self.set_pods
        self.set_pods = min(2 * self.set_pods, self.rules.pods_per_set)
        for running in list(self.waiting.values()):
            if chunk and pods + len(running.pods) > limit:
                break
            chunk.append(running)
            pods += len(running.pods)
            del self.waiting[running.node.name]
        return chunk

    # Step 1: every node, at once ----------------------------------------------------------------
    def _estimates(self) -> FloatArray:
        """Each node's price less the billed price of the cheapest type that holds its pods alone
        (0 for a node that cannot move or whose pods fit no type)."""
        table = offering_table(
            self.catalog, self.policy, Snapshot(pods=(), daemonset_overhead=self.overhead, region=self.region)
        )
        type_price = np.full(len(table.types), np.inf)
        np.minimum.at(type_price, table.type_of, table.price)
        type_alloc = np.zeros((len(table.types), 5), np.int64)
        type_alloc[table.type_of] = table.alloc
        loads = np.zeros((len(self.nodes), 5), np.int64)
        invalid = np.zeros(len(self.nodes), bool)
        for index, running in enumerate(self.nodes):
            for pod in running.pods:
                vector = pod_vector(pod, self.policy.gpu_sharing)
                if isinstance(vector, str):
                    invalid[index] = True  # the plan would refuse it: nothing to estimate
                    break
                loads[index] += vector
        cheapest = np.full(len(self.nodes), np.inf)
        for start in range(0, len(self.nodes), _ESTIMATE_BLOCK):
            block = loads[start : start + _ESTIMATE_BLOCK]
            fits = np.all(type_alloc[None, :, :] >= block[:, None, :], axis=2)
            cheapest[start : start + len(block)] = np.where(fits, type_price[None, :], np.inf).min(
                axis=1, initial=np.inf
            )
        cheapest[np.array([not running.pods for running in self.nodes], bool)] = 0.0
        prices = np.array([running.node.price_per_hour for running in self.nodes], np.float64)
        estimates = np.where(np.isfinite(cheapest), prices - cheapest, 0.0)
        movable = np.array([running.movable for running in self.nodes], bool) & ~invalid
        estimates = np.where(movable, np.maximum(estimates, 0.0), 0.0)
        # A node whose pods all fit in the free room of one node that stays may go without a
        # replacement: it may save its whole price. (Room spread over many nodes would count
        # nearly every node of a loose cluster, and move most of its pods for little.)
        leaving = movable & (estimates > 0) & (estimates >= self.rules.min_saving_share * prices)
        free = np.array([r.node.free.clamped().as_vector() for r in self.nodes], np.int64).reshape(-1, 5)
        staying = free[~leaving]
        elsewhere = np.zeros(len(self.nodes), bool)
        for start in range(0, len(self.nodes), _ESTIMATE_BLOCK):
            block = loads[start : start + _ESTIMATE_BLOCK]
            hosts = np.all(staying[None, :, :] >= block[:, None, :], axis=2).sum(axis=1)
            # A staying node always holds its own pods' room: it needs one other host.
            own = ~leaving[start : start + _ESTIMATE_BLOCK] & np.all(
                free[start : start + _ESTIMATE_BLOCK] >= block, axis=1
            )
            elsewhere[start : start + _ESTIMATE_BLOCK] = hosts - own > 0
        elsewhere &= movable & ~leaving & np.array([bool(r.pods) for r in self.nodes], bool)
        return np.where(elsewhere, prices, estimates)

    def _candidates(self, estimates: FloatArray) -> list[int]:
        """Nodes whose estimate reaches the threshold, best estimated saving per pod moved first."""
        share = self.rules.min_saving_share
        kept = [
            i
            for i, running in enumerate(self.nodes)
            if estimates[i] > 0 and estimates[i] >= share * running.node.price_per_hour
        ]
        return sorted(
            kept,
            key=lambda i: (
                -estimates[i] / max(len(self.nodes[i].pods), 1),
                -estimates[i],
                self.nodes[i].node.name,
            ),
        )

    # Steps 2-3: one plan per set ----------------------------------------------------------------
    def _evaluate(self, removed: list[RunningNode]) -> None:
        pods = tuple(pod for running in removed for pod in running.pods)
        snapshot = Snapshot(
            pods=pods,
            existing_nodes=self._receivers_for(pods),
            daemonset_overhead=self.overhead,
            region=self.region,
        )
        self.sets_planned += 1
        result = plan(snapshot, self.policy, self.catalog, thorough=False)
        moves = _moves(removed, result)
        singly = [m for m in moves if self._split(m) and len(m.nodes) > 1]
        kept, declined = self._judge([m for m in moves if m not in singly], result)
        requests = {pod.uid: pod for pod in pods}
        for move in kept:
            self.kept.append(move)
            for binding in move.bindings:
                self._take(binding.node_name, requests[binding.pod_uid])
        by_name = {running.node.name: running for running in removed}
        for move in declined:  # they stay: their room takes the next sets' pods
            self.declined.append(move)
            self.receivers.update((name, by_name[name].node) for name in move.nodes)
        for move in singly:  # planned again one node at a time, each onto the others' room too
            self.waiting.update((name, by_name[name]) for name in move.nodes)
        for name in [name for move in singly for name in move.nodes]:
            alone = self.waiting.pop(name, None)
            if alone is not None:
                self._evaluate([alone])

    def _split(self, move: Move) -> bool:
        """Whether the move needs more new nodes than the caller launches per move."""
        return self.rules.one_replacement and len(move.launches) > 1

    def _receivers_for(self, pods: tuple[PodRequest, ...]) -> tuple[ExistingNode, ...]:
        """The nodes that may take the set's pods (those staying and the candidates not planned yet):
        the `receivers_per_set` with room for the most of the set's average pod."""
        nodes = [*self.receivers.values(), *(running.node for running in self.waiting.values())]
        if len(nodes) <= self.rules.receivers_per_set or not pods:
            return tuple(nodes)
        vectors = [
            v for v in (pod_vector(pod, self.policy.gpu_sharing) for pod in pods) if not isinstance(v, str)
        ]
        if not vectors:
            return tuple(nodes[: self.rules.receivers_per_set])
        average = [max(int(v), 1) for v in np.ceil(np.mean(np.array(vectors, np.int64), axis=0))]
        room = [how_many_fit(node.free.clamped().as_vector(), average) for node in nodes]
        ranked = sorted(range(len(nodes)), key=lambda i: (-room[i], nodes[i].name))
        return tuple(nodes[i] for i in ranked[: self.rules.receivers_per_set])

    def _take(self, node_name: str, pod: PodRequest) -> None:
        """A kept move put `pod` on `node_name`: less room there, and the node stays."""
        waiting = self.waiting.pop(node_name, None)
        node = waiting.node if waiting is not None else self.receivers[node_name]
        vector = pod_vector(pod, self.policy.gpu_sharing)
        assert not isinstance(vector, str)  # the planner bound it
        self.receivers[node_name] = replace(node, free=node.free - vector_resources(vector, _NO_OVERHEAD))

    def _judge(self, moves: list[Move], result: Plan) -> tuple[list[Move], list[Move]]:
        """Keep the moves above the threshold that place every pod, best saving per pod first, while
        the cluster after them stays within the policy's limits (a move that uses no more of a
        limit than it frees always may)."""
        unplaced = {item.pod_uid for item in result.unschedulable}
        kept: list[Move] = []
        declined: list[Move] = []
        for move in sorted(moves, key=lambda m: (-m.saving_per_pod, m.nodes)):
            refusal = ""
            after = _usage_after(self.usage, move, self._vcpu_of_nodes(move.nodes), self.vcpu_by_type)
            if any(uid in unplaced for uid in move.pod_uids):
                refusal = "some of its pods fit nowhere else"
            elif any(launch.serverless for launch in move.launches):
                refusal = "its pods would need serverless capacity"
            elif self._split(move):
                refusal = f"it needs {len(move.launches)} new nodes; a move launches one"
            elif move.saving <= 0 or move.saving < self.rules.min_saving_share * move.cost_before:
                refusal = (
                    f"saves ${move.saving:.4f}/h, under {self.rules.min_saving_share:.0%} "
                    f"of ${move.cost_before:.4f}/h"
                )
            elif not _within(after, self.policy.limits) and not _no_growth(self.usage, after):
                refusal = "the cluster after it would exceed the policy's limits"
            if refusal:
                declined.append(_refused(move, refusal))
            else:
                kept.append(move)
                self.usage = after
        return kept, declined

    def _vcpu_of_nodes(self, names: tuple[str, ...]) -> float:
        wanted = set(names)
        return float(
            sum(self.vcpu_by_type.get(r.node.instance_type, 0) for r in self.nodes if r.node.name in wanted)
        )


def _moves(removed: list[RunningNode], result: Plan) -> list[Move]:
    """The plan split into independent moves: nodes whose pods share a launch move together."""
    origin = {pod.uid: running.node.name for running in removed for pod in running.pods}
    parent = {running.node.name: running.node.name for running in removed}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for launch in result.launches:
        roots = {root(origin[uid]) for uid in launch.pod_uids}
        first, *others = sorted(roots)
        for other in others:
            parent[other] = first
    groups: dict[str, list[RunningNode]] = {}
    for running in removed:
        groups.setdefault(root(running.node.name), []).append(running)
    bindings: dict[str, list[Binding]] = {}
    for binding in result.bindings:
        bindings.setdefault(root(origin[binding.pod_uid]), []).append(binding)
    launches: dict[str, list[Launch]] = {}
    for launch in result.launches:
        launches.setdefault(root(origin[launch.pod_uids[0]]), []).append(launch)
    moves = []
    for key, members in groups.items():
        own = launches.get(key, [])
        moves.append(
            Move(
                nodes=tuple(running.node.name for running in members),
                pod_uids=tuple(pod.uid for running in members for pod in running.pods),
                bindings=tuple(bindings.get(key, [])),
                launches=tuple(own),
                cost_before=float(sum(running.node.price_per_hour for running in members)),
                cost_after=float(sum(launch.chosen.price_per_hour for launch in own)),
            )
        )
    return moves


def _refused(move: Move, refusal: str) -> Move:
    return Move(
        move.nodes, move.pod_uids, move.bindings, move.launches, move.cost_before, move.cost_after, refusal
    )


def _usage_after(usage: Usage, move: Move, removed_vcpu: float, vcpu_by_type: dict[str, int]) -> Usage:
    added_vcpu = sum(launch_vcpu(launch, vcpu_by_type) for launch in move.launches)
    added_nodes = sum(1 for launch in move.launches if not launch.serverless)
    return Usage(
        vcpu=usage.vcpu - removed_vcpu + added_vcpu,
        nodes=usage.nodes - len(move.nodes) + added_nodes,
        cost_per_hour=usage.cost_per_hour - move.saving,
    )


def _within(usage: Usage, limits: Limits) -> bool:
    return (
        (limits.max_nodes is None or usage.nodes <= limits.max_nodes)
        and (limits.max_vcpu is None or usage.vcpu <= limits.max_vcpu)
        and (limits.max_cost_per_hour is None or usage.cost_per_hour <= limits.max_cost_per_hour + 1e-9)
    )


def _no_growth(before: Usage, after: Usage) -> bool:
    """A cluster already over a limit (the policy was tightened) may still shrink."""
    return (
        after.nodes <= before.nodes
        and after.vcpu <= before.vcpu
        and after.cost_per_hour <= before.cost_per_hour + 1e-9
    )


__all__ = [
    "DEFAULT_MIN_SAVING_SHARE",
    "ConsolidationPlan",
    "ConsolidationRules",
    "Move",
    "RunningNode",
    "consolidate",
]
