"""Consolidation: one scan of every node (`engines.planner.consolidation`) proposes the moves worth
their disruption (the policy's minimum saving share), decided by the planner itself; the pass acts
on the best ones (most saved per pod moved), within Karpenter's disruption budget
(`disruption_budget`: every node a move removes counts). A node whose pods fit on other
Ready nodes is deleted (it goes DRAINING); a node a cheaper one can replace gets its replacement
first and is drained once the replacement is Ready (its pods' controllers' new pods are bound to
the replacement as planned). A move launches at most one node (as Karpenter's): several nodes may
share it, each naming it (`replaced_by`), and they are all drained once it is Ready.

The scan decides with the planner's rules, as a launch does: new nodes reserve the DaemonSets of
their instance type (`launch.type_overheads`), and the pods running elsewhere count for the moved
pods' inter-pod rules (`topology.cluster_topology`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engines.kube import Pod
from engines.planner import ExistingNode, PodRequest
from engines.planner.consolidation import (
    DEFAULT_MIN_SAVING_SHARE,
    ClusterTopology,
    ConsolidationRules,
    Move,
    RunningNode,
    consolidate,
)
from workers.provisioning.commands import (
    Consolidate,
    DisruptionCommand,
    DrainReplaced,
    ReplacementDone,
)
from workers.provisioning.disruption.base import Candidate, Method, has_workload
from workers.provisioning.inputs import PassInputs
from workers.provisioning.launch import (
    IN_FLIGHT_PREFIX,
    existing_nodes,
    launch_node,
    new_node_overhead,
    plannable,
    type_overheads,
)
from workers.provisioning.pods import is_ours, may_evict
from workers.provisioning.records import Lifecycle
from workers.provisioning.topology import cluster_topology

# Karpenter's default disruption budget (`nodes: 10%`): see `disruption_budget`.
DISRUPTION_BUDGET = 0.1


def replacements_settled(inputs: PassInputs) -> list[ReplacementDone | DrainReplaced]:
    """Drain the nodes whose replacement became Ready; a node whose replacement is gone (its launch
    failed) is an ordinary node again."""
    by_id = {record.id: record for record in inputs.records}
    commands: list[ReplacementDone | DrainReplaced] = []
    for record in inputs.active():
        if not record.replaced_by_id:
            continue
        new = by_id.get(record.replaced_by_id)
        if new is None or not new.active:
            commands.append(ReplacementDone(record.id))
        elif new.state == Lifecycle.READY and record.state == Lifecycle.READY:
            commands.append(DrainReplaced(record.id, f"consolidation: replaced by {new.instance_type}"))
    return commands


class Consolidation(Method):
    def __init__(self, min_saving_share: float = DEFAULT_MIN_SAVING_SHARE) -> None:
        self.min_saving_share = min_saving_share

    def should_disrupt(self, inputs: PassInputs, candidate: Candidate) -> bool:
        record, node = candidate.record, candidate.node
        if (
            record.state != Lifecycle.READY
            or record.reserved_for_pod
            or record.replaced_by_id
            or record.id in inputs.replacements
            or record.planned_pods
            or node is None
            or record.ready_at is None
            or inputs.now - record.ready_at < inputs.scale_down_delay
            or not has_workload(node)
        ):
            return False
        # A pod that is not ours (another scheduler's, or one the policy leaves alone) is never
        # evicted to save money: its node stays.
        return all(may_evict(pod) and is_ours(pod, inputs.policy) for pod in node.workload_pods)

    def compute(self, inputs: PassInputs, candidates: Sequence[Candidate]) -> list[DisruptionCommand]:
        movable: dict[str, _Movable] = {}
        for candidate in candidates:
            if candidate.node is None:
                continue
            by_uid, requests, refused = plannable(candidate.node.workload_pods)
            if not refused:
                movable[candidate.node.name] = _Movable(candidate, by_uid, requests)
        if not movable:
            return []
        # In-flight nodes take no pods here: a node that never comes up would strand them.
        overheads = type_overheads(inputs)
        nodes = [node for node in existing_nodes(inputs, overheads) if node.ready]
        budget = disruption_budget(inputs)
        if budget == 0:
            return []
        rules = ConsolidationRules(
            min_saving_share=self.min_saving_share, one_replacement=True, max_nodes_removed=budget
        )
        rules_pending = any(
            request.has_topology_rules for each in movable.values() for request in each.requests.values()
        )
        topology = cluster_topology(inputs, IN_FLIGHT_PREFIX, rules_pending)
        scan = consolidate(
            [_running(node, movable.get(node.name)) for node in nodes],
            inputs.policy,
            inputs.catalog,
            daemonset_overhead=new_node_overhead(inputs),
            type_daemonset_overhead=overheads,
            topology=ClusterTopology(topology.nodes, topology.placed, topology.daemonset_host_ports),
            region=inputs.cluster.region,
            rules=rules,
        )
        commands: list[DisruptionCommand] = []
        removed = 0
        for move in sorted(scan.moves, key=lambda m: (-m.saving_per_pod, m.nodes)):
            if removed + len(move.nodes) > budget:
                continue  # a smaller move further down may still fit the budget
            removed += len(move.nodes)
            commands += _commands(move, movable)
        return commands


def disruption_budget(inputs: PassInputs) -> int:
    """How many more nodes consolidation may disrupt now, as Karpenter counts a NodePool's budget:
    `roundup(DISRUPTION_BUDGET x nodes) - disrupting`, at least 0. Nodes: our nodes registered and
    not terminating; disrupting: those draining, waiting for their replacement, interrupted or not
    Ready. A move counts each node it removes (several onto one: one each). Karpenter:
    `NodePool.GetAllowedDisruptionsByReason` (rounds up) and `BuildDisruptionBudgetMapping`."""
    counted = disrupting = 0
    for record in inputs.active():
        node = inputs.node_of(record)
        if node is None or record.state not in (Lifecycle.READY, Lifecycle.DRAINING):
            continue
        counted += 1
        disrupting += bool(
            record.state == Lifecycle.DRAINING
            or record.replaced_by_id
            or record.interrupted_at is not None
            or not node.node.ready
        )
    return max(0, math.ceil(DISRUPTION_BUDGET * counted) - disrupting)


@dataclass(frozen=True)
class _Movable:
    """A candidate the scan may move, with its pods as the planner takes them."""

    candidate: Candidate
    by_uid: dict[str, Pod]
    requests: dict[str, PodRequest]


def _running(node: ExistingNode, movable: _Movable | None) -> RunningNode:
    if movable is None:
        return RunningNode(node, movable=False)
    return RunningNode(node, tuple(movable.requests.values()))


def _usage(movable: _Movable) -> str:
    node = movable.candidate.node
    assert node is not None  # compute keeps only candidates with a node
    used, allocatable = node.requested(), node.node.allocatable
    return f"{node.name} used {used.cpu_millis / max(allocatable.cpu_millis, 1):.0%} CPU"


def _commands(move: Move, movable: dict[str, _Movable]) -> list[DisruptionCommand]:
    """A move as the ledger records it: a deletion per node, or its nodes and their one replacement."""
    per_pod = f"${move.saving_per_pod:.4f}/h per pod moved"
    if not move.launches:
        commands: list[DisruptionCommand] = []
        for name in move.nodes:
            found = movable[name]
            record, pods = found.candidate.record, len(found.requests)
            note = (
                f"{_usage(found)}; its {pods} pod(s) fit on other nodes, saving "
                f"${record.price_per_hour:.4f}/h ({per_pod})"
            )
            commands.append(Consolidate((record.id,), (name,), note, record.price_per_hour))
        return commands
    (launch,) = move.launches  # one_replacement
    moved = [movable[name] for name in move.nodes]
    them = "it" if len(moved) == 1 else f"these {len(moved)} nodes"
    note = (
        f"{'; '.join(_usage(each) for each in moved)}; replacing {them} with "
        f"{launch.chosen.instance_type} at ${move.cost_after:.4f}/h saves ${move.saving:.4f}/h "
        f"({per_pod}; drained once the replacement is Ready)"
    )
    by_uid = {uid: pod for each in moved for uid, pod in each.by_uid.items()}
    requests = {uid: request for each in moved for uid, request in each.requests.items()}
    ids = tuple(each.candidate.record.id for each in moved)
    return [Consolidate(ids, move.nodes, note, move.saving, launch_node(launch, by_uid, requests))]
