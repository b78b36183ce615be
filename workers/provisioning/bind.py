"""The bind decision: the pods planned onto nodes that became Ready, bound to them as planned
(Binding API), then the initializing taint lifted. Pure: a function of `PassInputs`.

A bind skips kube-scheduler, so every bind is first checked the way kube-scheduler would check it
(`engines.kube.predicate.BindCheck`, on the state the pass read, binds of the pass included). The
node's own Nodeless taints (initializing; reserved for one pod) are tolerated legally: the pod gets
a toleration for exactly that taint before the bind (tolerations are the one scheduling field a
pending pod may gain). A pod the check refuses is not bound: it leaves the node's planned pods and
stays pending, to be planned again (or placed by kube-scheduler).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engines.kube import Pod
from engines.kube.labels import Toleration, TolerationOperator
from engines.kube.nodes import Node
from engines.kube.predicate import BindCheck
from workers.provisioning.commands import BindPlanned
from workers.provisioning.inputs import PassInputs
from workers.provisioning.pods import INITIALIZING_TAINT, RESERVED_TAINT, is_ours
from workers.provisioning.records import Lifecycle, NodeRecord, PlannedPod

NODELESS_TAINTS = (INITIALIZING_TAINT, RESERVED_TAINT)


def _ready_with_planned_pods(inputs: PassInputs) -> list[NodeRecord]:
    return [
        record
        for record in inputs.active()
        if record.state == Lifecycle.READY and record.planned_pods and inputs.node_of(record) is not None
    ]


def tolerations_for(pod: Pod, node: Node) -> tuple[dict[str, Any], ...]:
    """The tolerations a pod planned onto `node` needs for the node's Nodeless taints, as JSON; only
    those it does not have yet."""
    needed = []
    for taint in node.taints:
        if taint.key not in NODELESS_TAINTS:
            continue
        toleration = Toleration(taint.key, TolerationOperator.EQUAL, taint.value, taint.effect)
        if not any(t.tolerates(taint) for t in pod.tolerations):
            needed.append(toleration)
    return tuple(
        {"key": t.key, "operator": t.operator.value, "value": t.value, "effect": t.effect.value}
        for t in needed
        if t.effect is not None
    )


def checked(check: BindCheck, pod: Pod, node: Node) -> tuple[str | None, tuple[dict[str, Any], ...]]:
    """Why kube-scheduler would refuse the pod on the node once it tolerates the node's Nodeless
    taints (None: it would accept it), and the tolerations to add; an accepted pod is counted on
    the node."""
    adding = tolerations_for(pod, node)
    extra = tuple(Toleration(t["key"], TolerationOperator.EQUAL, t["value"], None) for t in adding)
    refusal = check.refusal(pod, node.name, extra)
    if refusal is not None:
        return refusal, ()
    check.accept(pod, node.name)
    return None, adding


def plan_binds(inputs: PassInputs, check: BindCheck | None = None) -> tuple[BindPlanned, ...]:
    """For each Ready node with planned pods: the pods to bind now (the planned pod itself, or a new
    pod of its controller when the planned one was replaced) that kube-scheduler would accept there,
    and the planned pods still running elsewhere (a draining node's), whose room stays kept."""
    records = _ready_with_planned_pods(inputs)
    if not records:
        return ()
    check = check or BindCheck(inputs.state)
    pending = {pod.uid: pod for pod in inputs.state.pending}
    planned = {pod.uid for record in inputs.active() for pod in record.planned_pods}
    by_owner: dict[str, list[Pod]] = {}
    for pod in inputs.state.pending:
        if pod.controller_uid and pod.uid not in planned and is_ours(pod, inputs.policy):
            by_owner.setdefault(pod.controller_uid, []).append(pod)
    running = {pod.uid for node in inputs.state.nodes.values() for pod in node.pods}
    plans = []
    for record in records:
        node = inputs.node_of(record)
        assert node is not None  # selected above
        pods: list[Pod] = []
        tolerations: dict[str, tuple[Mapping[str, Any], ...]] = {}
        kept: list[PlannedPod] = []
        for entry in record.planned_pods:
            target = pending.get(entry.uid)
            if target is None and entry.owner and by_owner.get(entry.owner):
                target = by_owner[entry.owner].pop()
            if target is not None:
                refusal, adding = checked(check, target, node.node)
                if refusal is None:
                    pods.append(target)
                    if adding:
                        tolerations[target.uid] = adding
            elif entry.uid in running:
                kept.append(entry)
        untaint = not kept and node.node.has_taint(INITIALIZING_TAINT)
        plans.append(
            BindPlanned(
                record_id=record.id,
                node_name=node.name,
                pods=tuple(pods),
                kept=tuple(kept),
                changed=tuple(kept) != record.planned_pods,
                untaint=untaint,
                tolerations=tolerations,
            )
        )
    return tuple(plans)
