"""Consolidation as a planner problem: which running nodes to remove, where their pods go and what
replaces them, decided by `plan()` itself (the same packing, pricing, constraints, scheduling rules
and limits as a launch), with the $/h each move saves per pod it moves.

Algorithm (one scan, every node a candidate):

1. Every node is evaluated at once (vectorised): the load of its pods (the planner's request
   vectors) and the billed price of the cheapest instance type that could hold that load alone.
   Its estimated saving is its price less that one: an underused node, or one a cheaper type
   could replace, saves much; a well-used node of the cheapest type saves nothing, unless its
   pods all fit in the free room of one node that stays (then its whole price). Nodes whose
   estimate reaches the threshold share of their price are candidates (they may leave), best
   estimated saving per pod moved first; the others stay.
2. Sets are grown greedily along that order (1, 2, 4, ... pods, then `pods_per_set` pods each),
   and each set is one `plan()`: its pods onto the free room of the nodes that stay and of the
   candidates not planned yet (the `receivers_per_set` with the most room for the set's pods), and
   onto new nodes. A candidate that takes pods stays. A few dozen plans of a hundred pods replace
   Karpenter's one simulation per candidate, and keep every plan small (the planner's LP grows
   with pod classes times existing nodes).
3. A set's plan splits into independent moves: nodes whose pods share a new node move together,
   a node whose pods go only to other nodes or to its own new nodes moves alone. A move is kept
   when it saves at least `min_saving_share` of what its nodes cost, places every pod (nothing
   left pending, nothing serverless) and keeps the whole cluster within the policy's limits.
   Kept moves take the room they were given (later sets see what is left) and never take pods
   from a node that received some, so any subset of the kept moves can be applied; nodes of
   declined moves stay and take later sets' pods. For a caller that launches one node per move,
   a move the plan gave several new nodes is planned again with one instance type (the cheapest
   that holds those pods for less than the move's nodes cost: one node of it is the cheapest way
   the planner then has), else as two halves, down to single nodes.
4. Merging: nodes no cheaper type holds alone and whose pods no single other node holds
   (well-sized, but fragmented) are still candidates together. The movable nodes that stayed,
   took no pods (their own move declined or none), emptiest first (the larger share of CPU or memory they use):
   those whose pods first-fit into the others' room are planned in sets of `pods_per_set` pods
   with no new node allowed (deletions); of the rest, the longest run from the emptiest on whose
   load one instance type holds for `min_saving_share` less than the run costs is planned with
   that type alone (the others' room, then one node of it: several replaced by one cheaper).
   Runs stop after `merge_misses` plans in a row keep nothing.

The scheduling rules are the planner's: the pods' own (node selectors and affinity, taints,
inter-pod rules, host ports, volume zones) against each receiver's labels, and, with `topology`,
the pods running elsewhere (a set's own pods leave with its nodes; a kept move's pods count where
they go). DaemonSets are reserved on a new node by its instance type (`type_daemonset_overhead`).
Estimates only order the candidates; every saving reported comes from a plan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from engines.kube.affinity import HostPort
from engines.kube.resources import Resources
from engines.planner.assemble import vector_resources
from engines.planner.catalog import Catalog
from engines.planner.consolidation_estimates import chunks, estimated_savings, first_fit, node_loads
from engines.planner.consolidation_moves import (
    Move,
    RunningNode,
    Topology,
    no_growth,
    one_type_catalogs,
    refused,
    split_moves,
    usage_after,
    within,
)
from engines.planner.engine import plan
from engines.planner.limits import Usage
from engines.planner.packing import how_many_fit
from engines.planner.policy import PlannerPolicy
from engines.planner.problem import pod_vector
from engines.planner.results import Plan
from engines.planner.table import FloatArray, offering_table
from engines.planner.types import ClusterNode, ExistingNode, PlacedPod, PodRequest, Snapshot

# A move must save at least this share of what its nodes cost (the policy's default).
DEFAULT_MIN_SAVING_SHARE = 0.10
_NO_OVERHEAD = Resources()
# Instance types tried for one replacement of a move the plan gave several new nodes.
_ONE_NODE_TRIES = 2


@dataclass(frozen=True, slots=True)
class ConsolidationRules:
    """`min_saving_share`: a move saving less than this share of its nodes' cost is not worth the
    disruption. `pods_per_set` and `receivers_per_set` bound the size of each plan.
    `one_replacement`: the caller launches at most one node per move (the provisioning loop drains
    a move's nodes once its replacement is Ready, as Karpenter), so a move of several nodes that
    needs several new ones is planned again with one type, else in halves, and a node that alone
    needs several new ones stays. `max_nodes_removed`: the scan stops planning once its moves
    remove that many nodes (a caller with a disruption budget acts on no more). `merge`: step 4
    (well-sized nodes merged); `merge_misses`: it stops after that many sets in a row keep nothing."""

    min_saving_share: float = DEFAULT_MIN_SAVING_SHARE
    pods_per_set: int = 100
    receivers_per_set: int = 200
    one_replacement: bool = False
    max_nodes_removed: float = math.inf
    merge: bool = True
    merge_misses: int = 2


DEFAULT_RULES = ConsolidationRules()


@dataclass(frozen=True, slots=True)
class ClusterTopology:
    """What the planner's topology pass counts besides the moved pods (`Snapshot.cluster_nodes`,
    `placed`, `daemonset_host_ports`): every node of the cluster and the pods running on them."""

    nodes: tuple[ClusterNode, ...] = ()
    placed: tuple[PlacedPod, ...] = ()
    daemonset_host_ports: frozenset[HostPort] = frozenset()


@dataclass(frozen=True, slots=True)
class ConsolidationPlan:
    """The moves proposed (each above the threshold), the ones declined with why, and the scan's
    effort: every node is a candidate evaluated; `sets_planned` plans were run (`merge_sets` of
    them in step 4)."""

    moves: tuple[Move, ...]
    declined: tuple[Move, ...]
    candidates_evaluated: int
    sets_planned: int
    cost_before: float  # billed $/h of every node
    estimates: dict[str, float] = field(default_factory=dict)  # node -> estimated $/h saving
    merge_sets: int = 0

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
    type_daemonset_overhead: Mapping[str, Resources] | None = None,
    topology: ClusterTopology | None = None,
    region: str = "",
    rules: ConsolidationRules = DEFAULT_RULES,
) -> ConsolidationPlan:
    """One scan over `nodes` (see the module docstring). `daemonset_overhead` is reserved on a new
    node unless `type_daemonset_overhead` gives its instance type's own (`Snapshot`)."""
    names = [running.node.name for running in nodes]
    if len(set(names)) != len(names):
        raise ValueError("node names must be unique")
    base = Snapshot(
        pods=(),
        daemonset_overhead=daemonset_overhead,
        type_daemonset_overhead=dict(type_daemonset_overhead or {}),
        region=region,
        daemonset_host_ports=topology.daemonset_host_ports if topology else frozenset(),
    )
    scan = _Scan(nodes, policy, catalog, base, topology, rules)
    return scan.run()


class _Scan:
    def __init__(
        self,
        nodes: Sequence[RunningNode],
        policy: PlannerPolicy,
        catalog: Catalog,
        base: Snapshot,
        topology: ClusterTopology | None,
        rules: ConsolidationRules,
    ) -> None:
        self.nodes = list(nodes)
        self.policy, self.catalog, self.base, self.rules = policy, catalog, base, rules
        self.topology = (
            Topology({node.name: node for node in topology.nodes}, list(topology.placed))
            if topology is not None
            else None
        )
        self.table = offering_table(catalog, policy, base)
        self.vcpu_by_type = {t.name: t.vcpu for t in catalog.instance_types}
        self.sets_planned = 0
        self.merge_sets = 0
        self.took: set[str] = set()  # nodes that received pods: they stay
        self.merged: set[str] = set()  # nodes step 4 planned
        self.no_new_node = replace(catalog, instance_types=(), offerings=(), serverless_shapes=())
        self.usage = Usage(
            vcpu=float(sum(self.vcpu_by_type.get(r.node.instance_type, 0) for r in self.nodes)),
            nodes=len(self.nodes),
            cost_per_hour=float(sum(r.node.price_per_hour for r in self.nodes)),
        )

    def run(self) -> ConsolidationPlan:
        self.loads = node_loads(self.nodes, self.policy.gpu_sharing)
        estimates = estimated_savings(self.nodes, self.loads, self.table, self.rules.min_saving_share)
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
            if self._budget_spent():
                break  # the caller acts on no more than that: planning further is wasted
            chunk = self._next_set(self.nodes[index])
            if chunk:
                self._evaluate(chunk)
        if self.rules.merge:
            self._merge()
        return ConsolidationPlan(
            moves=tuple(self.kept),
            declined=tuple(self.declined),
            candidates_evaluated=len(self.nodes),
            sets_planned=self.sets_planned,
            cost_before=float(sum(running.node.price_per_hour for running in self.nodes)),
            estimates={self.nodes[i].node.name: float(estimates[i]) for i in range(len(self.nodes))},
            merge_sets=self.merge_sets,
        )

    def _budget_spent(self) -> bool:
        return sum(len(move.nodes) for move in self.kept) >= self.rules.max_nodes_removed

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
    def _plan(self, removed: Sequence[RunningNode], catalog: Catalog | None = None) -> Plan:
        pods = tuple(pod for running in removed for pod in running.pods)
        snapshot = replace(self.base, pods=pods, existing_nodes=self._receivers_for(pods))
        if self.topology is not None:
            nodes, placed = self.topology.without(running.node.name for running in removed)
            snapshot = replace(snapshot, cluster_nodes=nodes, placed=placed)
        self.sets_planned += 1
        return plan(snapshot, self.policy, catalog or self.catalog, thorough=False)

    def _evaluate(self, removed: list[RunningNode]) -> None:
        result = self._plan(removed)
        moves = split_moves(removed, result)
        again = [m for m in moves if self._split(m) and len(m.nodes) > 1]
        self._settle(removed, [m for m in moves if m not in again], result)
        by_name = {running.node.name: running for running in removed}
        for move in again:
            self._one_replacement([by_name[name] for name in move.nodes], move)

    def _settle(self, removed: Sequence[RunningNode], moves: list[Move], result: Plan) -> None:
        """Judge `moves` (of `removed`, from `result`): kept ones take their room; the nodes of the
        others stay and take later sets' pods."""
        kept, declined = self._judge(moves, result)
        requests = {pod.uid: pod for running in removed for pod in running.pods}
        for move in kept:
            self.kept.append(move)
            for binding in move.bindings:
                self._take(binding.node_name, requests[binding.pod_uid])
            if self.topology is not None:
                self.topology.apply(move, requests)
        by_name = {running.node.name: running for running in removed}
        for move in declined:
            self.declined.append(move)
            self.receivers.update((name, by_name[name].node) for name in move.nodes)

    def _one_replacement(self, members: list[RunningNode], move: Move) -> None:
        """A move of several nodes the plan gave several new nodes, for a caller that launches one:
        planned again with one instance type (`one_type_catalogs`), else as two halves (each also
        onto the other's room)."""
        launched = [uid for launch in move.launches for uid in launch.pod_uids]
        requests = {pod.uid: pod for running in members for pod in running.pods}
        load = np.zeros(5, np.int64)
        for uid in launched:
            vector = pod_vector(requests[uid], self.policy.gpu_sharing)
            assert not isinstance(vector, str)  # the planner launched a node for it
            load += vector
        price_below = (1 - self.rules.min_saving_share) * move.cost_before
        for catalog in one_type_catalogs(self.catalog, self.table, load, price_below, _ONE_NODE_TRIES):
            result = self._plan(members, catalog)
            moves = split_moves(members, result)
            if not result.unschedulable and not any(self._split(m) for m in moves):
                self._settle(members, moves, result)
                return
        self.waiting.update((running.node.name, running) for running in members)
        half = len(members) // 2
        for part in (members[:half], members[half:]):
            again = [r for r in part if self.waiting.pop(r.node.name, None) is not None]
            if len(again) == 1:
                self._settle_alone(again[0])
            elif again:
                self._evaluate(again)

    def _settle_alone(self, running: RunningNode) -> None:
        result = self._plan([running])
        self._settle([running], split_moves([running], result), result)

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
        # A resource no pod asks for counts for nothing (a GPU-less average pod fits GPU-less nodes).
        average = [int(v) for v in np.ceil(np.mean(np.array(vectors, np.int64), axis=0))]
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
        self.took.add(node_name)

    def _judge(self, moves: list[Move], result: Plan) -> tuple[list[Move], list[Move]]:
        """Keep the moves above the threshold that place every pod, best saving per pod first, while
        the cluster after them stays within the policy's limits (a move that uses no more of a
        limit than it frees always may)."""
        unplaced = {item.pod_uid for item in result.unschedulable}
        kept: list[Move] = []
        declined: list[Move] = []
        for move in sorted(moves, key=lambda m: (-m.saving_per_pod, m.nodes)):
            refusal = ""
            after = usage_after(self.usage, move, self._vcpu_of_nodes(move.nodes), self.vcpu_by_type)
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
            elif not within(after, self.policy.limits) and not no_growth(self.usage, after):
                refusal = "the cluster after it would exceed the policy's limits"
            if refusal:
                declined.append(refused(move, refusal))
            else:
                kept.append(move)
                self.usage = after
        return kept, declined

    def _vcpu_of_nodes(self, names: tuple[str, ...]) -> float:
        wanted = set(names)
        return float(
            sum(self.vcpu_by_type.get(r.node.instance_type, 0) for r in self.nodes if r.node.name in wanted)
        )

    # Step 4: well-sized nodes merged --------------------------------------------------------------
    def _merge(self) -> None:
        """The movable nodes that stayed and took nothing, emptiest first. Those whose
        pods first-fit into the others' room are emptied onto them (deletions: planned with no new
        node allowed), in sets of `pods_per_set` pods. Of the rest, runs of consecutive nodes are
        replaced by one node (`_replace_runs`)."""
        order = self._merge_order()
        most = self.rules.max_nodes_removed - sum(len(move.nodes) for move in self.kept)
        deletable = first_fit(order, self.receivers, self.policy.gpu_sharing, most)
        for chunk in chunks(deletable, self.rules.pods_per_set):
            self._merge_set([r for r in chunk if self._mergeable(r)], self.no_new_node)
        self._replace_runs([running for running in order if self._mergeable(running)])

    def _replace_runs(self, rest: list[RunningNode]) -> None:
        """From the emptiest on, the longest run (of at most `pods_per_set` pods) whose load one
        instance type holds for at least `min_saving_share` less than the run costs is planned with
        that type alone (the others' room, then one node of it). Stops after `merge_misses` plans
        in a row keep nothing."""
        position, misses = 0, 0
        while position < len(rest) and misses < self.rules.merge_misses and not self._budget_spent():
            window = next(chunks(rest[position:], self.rules.pods_per_set))
            run, catalog = self._widest_run(window)
            if catalog is None:
                position += len(window)
                continue
            position += run
            misses = 0 if self._merge_set(window[:run], catalog) else misses + 1

    def _widest_run(self, window: list[RunningNode]) -> tuple[int, Catalog | None]:
        """The most nodes, from the first of `window` on (two at least, at most what the caller
        still acts on), that one node of a type holds for `min_saving_share` less than they cost,
        and that type's catalog."""
        index = {running.node.name: i for i, running in enumerate(self.nodes)}
        rows = [index[running.node.name] for running in window]
        loads = np.cumsum(self.loads.loads[rows], axis=0)
        costs = np.cumsum([running.node.price_per_hour for running in window])
        share = self.rules.min_saving_share
        most = self.rules.max_nodes_removed - sum(len(move.nodes) for move in self.kept)
        for run in range(int(min(len(window), most)), 1, -1):
            found = one_type_catalogs(
                self.catalog, self.table, loads[run - 1], (1 - share) * costs[run - 1], tries=1
            )
            if found:
                return run, found[0]
        return 0, None

    def _mergeable(self, running: RunningNode) -> bool:
        name = running.node.name
        return name in self.receivers and name not in self.took and name not in self.merged

    def _merge_set(self, chunk: list[RunningNode], catalog: Catalog) -> bool:
        """Plan `chunk` onto the others (new nodes from `catalog`); whether a move was kept."""
        if not chunk or self._budget_spent():
            return False
        names = {running.node.name for running in chunk}
        for name in names:
            del self.receivers[name]
            self.merged.add(name)
        # What the scan says of these nodes is this plan's outcome, not an earlier one's.
        self.declined = [move for move in self.declined if not names.intersection(move.nodes)]
        before = len(self.kept)
        self.merge_sets += 1
        result = self._plan(chunk, catalog)
        self._settle(chunk, split_moves(chunk, result), result)
        return len(self.kept) > before

    def _merge_order(self) -> list[RunningNode]:
        """The candidates of step 4: movable nodes that stayed and took no pods, emptiest first (a
        node whose move was declined too: merged with others, it may go)."""
        found = [
            i
            for i, running in enumerate(self.nodes)
            if running.node.name in self.receivers
            and running.node.name not in self.took
            and running.movable
            and running.pods
            and self.loads.valid[i]
        ]
        fill = self.loads.fill
        found.sort(key=lambda i: (fill[i], -self.nodes[i].node.price_per_hour, self.nodes[i].node.name))
        return [self.nodes[i] for i in found]


__all__ = [
    "DEFAULT_MIN_SAVING_SHARE",
    "ClusterTopology",
    "ConsolidationPlan",
    "ConsolidationRules",
    "Move",
    "RunningNode",
    "consolidate",
]
