"""The bind decision: the pods planned onto nodes that became Ready, bound to them as planned
(Binding API), then the initializing taint lifted. Pure: a function of `PassInputs`.
"""

from __future__ import annotations

from engines.kube import Pod
from workers.provisioning.commands import BindPlanned
from workers.provisioning.inputs import PassInputs
from workers.provisioning.pods import INITIALIZING_TAINT
from workers.provisioning.records import Lifecycle, NodeRecord, PlannedPod


def _ready_with_planned_pods(inputs: PassInputs) -> list[NodeRecord]:
    return [
        record
        for record in inputs.active()
        if record.state == Lifecycle.READY and record.planned_pods and inputs.node_of(record) is not None
    ]


def plan_binds(inputs: PassInputs) -> tuple[BindPlanned, ...]:
    """For each Ready node with planned pods: the pods to bind now (the planned pod itself, or a new
    pod of its controller when the planned one was replaced), and the planned pods still running
    elsewhere (a draining node's), whose room stays kept."""
    records = _ready_with_planned_pods(inputs)
    if not records:
        return ()
    pending = {pod.uid: pod for pod in inputs.state.pending}
    planned = {pod.uid for record in inputs.active() for pod in record.planned_pods}
    by_owner: dict[str, list[Pod]] = {}
    for pod in inputs.state.pending:
        if pod.controller_uid and pod.uid not in planned:
            by_owner.setdefault(pod.controller_uid, []).append(pod)
    running = {pod.uid for node in inputs.state.nodes.values() for pod in node.pods}
    plans = []
    for record in records:
        node = inputs.node_of(record)
        assert node is not None  # selected above
        pods: list[Pod] = []
        kept: list[PlannedPod] = []
        for entry in record.planned_pods:
            target = pending.get(entry.uid)
            if target is None and entry.owner and by_owner.get(entry.owner):
                target = by_owner[entry.owner].pop()
            if target is not None:
                pods.append(target)
            elif entry.uid in running:
                kept.append(entry)
        untaint = None
        if not kept and node.node.has_taint(INITIALIZING_TAINT):
            untaint = tuple(raw for raw in node.node.raw_taints if raw.get("key") != INITIALIZING_TAINT)
        plans.append(
            BindPlanned(
                record_id=record.id,
                node_name=node.name,
                pods=tuple(pods),
                kept=tuple(kept),
                changed=tuple(kept) != record.planned_pods,
                untaint=untaint,
            )
        )
    return tuple(plans)
