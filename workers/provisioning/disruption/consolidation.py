"""Consolidation, single-node as Karpenter's: one underused packed node per pass is deleted when its
pods fit on the other nodes, or replaced when a node that holds them costs at least
REPLACE_MIN_SAVING less. A replaced node is drained only once its replacement is Ready, and its pods'
controllers' new pods are bound to the replacement as planned."""

from __future__ import annotations

from collections.abc import Sequence

from engines.planner import ExistingNode, Snapshot, plan
from workers.provisioning.commands import (
    Consolidate,
    DisruptionCommand,
    DrainReplaced,
    ReplacementDone,
)
from workers.provisioning.disruption.base import Candidate, Method, has_workload
from workers.provisioning.inputs import PassInputs
from workers.provisioning.launch import existing_nodes, launch_node, plannable
from workers.provisioning.pods import may_evict
from workers.provisioning.records import Lifecycle

# Consolidate a packed node when its requests use less than this share of CPU and memory.
CONSOLIDATION_UTILIZATION = 0.5
# Replace such a node only when the replacement saves at least this share of its price (a smaller
# saving is not worth moving pods for).
REPLACE_MIN_SAVING = 0.2


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
        used, allocatable = node.requested(), node.node.allocatable
        if not (
            used.cpu_millis < CONSOLIDATION_UTILIZATION * allocatable.cpu_millis
            and used.memory_mib < CONSOLIDATION_UTILIZATION * allocatable.memory_mib
        ):
            return False
        return all(may_evict(pod) for pod in node.workload_pods)

    def compute(self, inputs: PassInputs, candidates: Sequence[Candidate]) -> list[DisruptionCommand]:
        replacing = {record.replaces_id for record in inputs.active() if record.replaces_id}
        kept = [candidate for candidate in candidates if candidate.record.id not in replacing]
        if not kept:
            return []
        nodes = existing_nodes(inputs)
        for candidate in kept:
            command = _consider(inputs, candidate, nodes)
            if command is not None:
                return [command]
        return []


def _consider(inputs: PassInputs, candidate: Candidate, nodes: list[ExistingNode]) -> Consolidate | None:
    """Delete or replace the candidate's node, when its pods fit elsewhere or on a cheaper node."""
    record, node = candidate.record, candidate.node
    assert node is not None  # should_disrupt
    by_uid, requests, refused = plannable(node.workload_pods)
    if refused:
        return None
    trial = plan(
        Snapshot(
            pods=tuple(requests.values()),
            existing_nodes=tuple(n for n in nodes if n.name != node.name and n.ready),
            daemonset_overhead=inputs.state.daemonset_overhead,
            region=inputs.cluster.region,
        ),
        inputs.policy,
        inputs.catalog,
    )
    if trial.unschedulable or any(launch.serverless for launch in trial.launches):
        return None
    used, allocatable = node.requested(), node.node.allocatable
    usage = f"{node.name} used {used.cpu_millis / max(allocatable.cpu_millis, 1):.0%} CPU"
    price = record.price_per_hour
    if not trial.launches:
        note = f"{usage}; its {len(requests)} pod(s) fit on other nodes, saving ${price:.4f}/h"
        return Consolidate(record.id, node.name, note, price)
    replacement_price = sum(launch.chosen.price_per_hour for launch in trial.launches)
    if replacement_price > (1 - REPLACE_MIN_SAVING) * price:
        return None
    types = ", ".join(launch.chosen.instance_type for launch in trial.launches)
    note = (
        f"{usage}; replacing it with {types} at ${replacement_price:.4f}/h saves "
        f"${price - replacement_price:.4f}/h (drained once the replacement is Ready)"
    )
    replacements = tuple(launch_node(launch, by_uid, requests, record.id) for launch in trial.launches)
    return Consolidate(record.id, node.name, note, price - replacement_price, replacements)
