"""Consolidation: one scan of every node (`engines.planner.consolidation`) proposes the moves worth
their disruption (the policy's minimum saving share), decided by the planner itself; the pass acts
on the best ones, at most DISRUPTION_BUDGET of the nodes per pass. A node whose pods fit on other
Ready nodes is deleted (it goes DRAINING); a node a cheaper one can replace gets its replacement
first and is drained once the replacement is Ready (its pods' controllers' new pods are bound to
the replacement as planned). A replacement names one node, so the scan replaces nodes singly."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engines.kube import Pod
from engines.planner import ExistingNode, PodRequest
from engines.planner.consolidation import (
    DEFAULT_MIN_SAVING_SHARE,
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
from workers.provisioning.launch import existing_nodes, launch_node, plannable
from workers.provisioning.pods import is_ours, may_evict
from workers.provisioning.records import Lifecycle

# At most this share of the cluster's nodes is consolidated in one pass (at least one node), as
# Karpenter's default disruption budget.
DISRUPTION_BUDGET = 0.1


def replacements_settled(inputs: PassInputs) -> list[ReplacementDone | DrainReplaced]:
    """Drain the nodes whose replacement became Ready; a replacement whose node is gone is an ordinary
    node from then on."""
    by_id = {record.id: record for record in inputs.records}
    commands: list[ReplacementDone | DrainReplaced] = []
    draining: set[str] = set()
    for record in inputs.active():
        if not record.replaces_id:
            continue
        old = by_id.get(record.replaces_id)
        if old is None or not old.active:
            commands.append(ReplacementDone(record.id))
        elif record.state == Lifecycle.READY and old.state == Lifecycle.READY and old.id not in draining:
            draining.add(old.id)
            commands.append(DrainReplaced(old.id, f"consolidation: replaced by {record.instance_type}"))
    return commands


class Consolidation(Method):
    def __init__(self, min_saving_share: float = DEFAULT_MIN_SAVING_SHARE) -> None:
        self.min_saving_share = min_saving_share

    def should_disrupt(self, inputs: PassInputs, candidate: Candidate) -> bool:
        record, node = candidate.record, candidate.node
        if (
            record.state != Lifecycle.READY
            or record.reserved_for_pod
            or record.replaces_id
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
        replacing = {record.replaces_id for record in inputs.active() if record.replaces_id}
        movable: dict[str, _Movable] = {}
        for candidate in candidates:
            if candidate.record.id in replacing or candidate.node is None:
                continue
            by_uid, requests, refused = plannable(candidate.node.workload_pods)
            if not refused:
                movable[candidate.node.name] = _Movable(candidate, by_uid, requests)
        if not movable:
            return []
        # In-flight nodes take no pods here: a node that never comes up would strand them.
        nodes = [node for node in existing_nodes(inputs) if node.ready]
        budget = max(1, math.floor(DISRUPTION_BUDGET * len(nodes)))
        rules = ConsolidationRules(
            min_saving_share=self.min_saving_share, single_node_replacements=True, max_nodes_removed=budget
        )
        scan = consolidate(
            [_running(node, movable.get(node.name)) for node in nodes],
            inputs.policy,
            inputs.catalog,
            daemonset_overhead=inputs.state.daemonset_overhead,
            region=inputs.cluster.region,
            rules=rules,
        )
        commands: list[DisruptionCommand] = []
        for move in sorted(scan.moves, key=lambda m: (-m.saving_per_pod, m.nodes)):
            if len(commands) + len(move.nodes) > budget:
                break
            commands += _commands(move, movable)
        return commands


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
    """A move as the ledger records it: a deletion per node, or one node and its replacements."""
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
            commands.append(Consolidate(record.id, name, note, record.price_per_hour))
        return commands
    (name,) = move.nodes  # single_node_replacements
    found = movable[name]
    record = found.candidate.record
    types = ", ".join(launch.chosen.instance_type for launch in move.launches)
    note = (
        f"{_usage(found)}; replacing it with {types} at ${move.cost_after:.4f}/h saves "
        f"${move.saving:.4f}/h ({per_pod}; drained once the replacement is Ready)"
    )
    replacements = tuple(
        launch_node(launch, found.by_uid, found.requests, record.id) for launch in move.launches
    )
    return [Consolidate(record.id, name, note, move.saving, replacements)]
