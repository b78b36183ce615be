"""A node's life between the decisions: launches to resume, instances that registered as Ready nodes,
instances that are gone, and terminations to finish. Pure: functions of `PassInputs`.

Every intent is recorded before anyone acts on it, so a worker that dies between the two leaves a
record this step picks up: a LAUNCHING record is launched again (same token: no second instance), a
TERMINATING record whose instance or node is still there is terminated again.
"""

from __future__ import annotations

from datetime import timedelta

from clusters.cloud.interface import InstanceState
from engines.kube.cluster import ObservedNode
from workers.provisioning.commands import FinishTermination, Forget, Register
from workers.provisioning.inputs import PassInputs
from workers.provisioning.launch_request import node_labels, registration_labels
from workers.provisioning.pods import INITIALIZING_TAINT, RESERVED_TAINT
from workers.provisioning.records import Lifecycle, NodeRecord

# A launch handed to a worker is repeated by a reconcile pass only after this long without progress.
LAUNCH_HANDOFF_GRACE = timedelta(seconds=60)
# EC2 listings are eventually consistent: a just-launched instance may be missing for a while.
LIST_CONSISTENCY_GRACE = timedelta(minutes=2)
GONE = frozenset({InstanceState.TERMINATED, InstanceState.SHUTTING_DOWN})


def launches_to_resume(inputs: PassInputs, *, dispatching: bool) -> list[NodeRecord]:
    """LAUNCHING records: a launch another worker started and may not have finished. Repeated unless
    it was handed off (to a launch task) moments ago."""
    stale_before = inputs.now - LAUNCH_HANDOFF_GRACE
    return [
        record
        for record in inputs.records
        if record.state == Lifecycle.LAUNCHING
        and (
            record.launch_requested_at is None or record.launch_requested_at < stale_before or not dispatching
        )
    ]


def _forget(record: NodeRecord, node: ObservedNode | None) -> Forget:
    note = ""
    if record.state != Lifecycle.TERMINATING:
        note = (
            f"{record.display_name} was {record.state} but its instance {record.instance_id} is gone "
            "(reclaimed or terminated outside Nodeless); forgot it"
        )
    return Forget(record.id, node.name if node else "", record.state, note)


def registrations_and_losses(inputs: PassInputs) -> list[Register | Forget]:
    """Records whose instance registered as a Ready node, and records whose instance is gone (when the
    pass listed instances)."""
    commands: list[Register | Forget] = []
    for record in inputs.active():
        if record.state == Lifecycle.LAUNCHING or not record.instance_id:
            continue
        node = inputs.node_of(record)
        if inputs.instances is not None:
            instance = inputs.instances.get(record.instance_id)
            if (
                instance is None
                and record.launched_at
                and inputs.now - record.launched_at < LIST_CONSISTENCY_GRACE
            ):
                continue  # launched moments ago (maybe in this pass): listings lag behind launches
            if instance is None or instance.state in GONE:
                commands.append(_forget(record, node))
                continue
        if record.state == Lifecycle.PENDING and node is not None and node.node.ready:
            wanted = {
                **node_labels(inputs.cluster, inputs.policy),
                **registration_labels(inputs.cluster, record, inputs.policy, inputs.catalog),
            }
            missing = {k: v for k, v in wanted.items() if node.node.labels.get(k) != v}
            commands.append(
                Register(record.id, node.name, node.node.allocatable, missing, _own_taint(record, node))
            )
    return commands


def _own_taint(record: NodeRecord, node: ObservedNode) -> tuple[str, str] | None:
    """The startup taint's value that is this node's own (the reserved pod's uid, or the row's id),
    when the node registered with another (the launch template's shared one)."""
    if record.reserved_for_pod and record.planned_pods:
        wanted = (RESERVED_TAINT, record.planned_pods[0].uid)
    else:
        wanted = (INITIALIZING_TAINT, record.id)
    current = {taint.key: taint.value for taint in node.node.taints}
    if wanted[0] not in current or current[wanted[0]] == wanted[1]:
        return None
    return wanted


def terminations_to_finish(inputs: PassInputs) -> list[FinishTermination]:
    """TERMINATING records whose node is still there, or whose instance is listed alive: a worker died
    between recording the termination and acting on it (acting deletes the node)."""
    commands = []
    for record in inputs.active():
        if record.state != Lifecycle.TERMINATING:
            continue
        node = inputs.node_of(record)
        instance = (inputs.instances or {}).get(record.instance_id) if record.instance_id else None
        if node is not None or (instance is not None and instance.state not in GONE):
            commands.append(FinishTermination(record.id, node.name if node else "", record.instance_id))
    return commands
