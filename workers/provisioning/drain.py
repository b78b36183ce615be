"""The drain decision: for every DRAINING record, the pods to evict from its node, and the termination
that follows once the node is empty. Pure: a function of `PassInputs`.

A record goes DRAINING (with its decision) before anything is evicted: a worker that dies mid-drain
leaves a DRAINING record the next pass drains again.
"""

from __future__ import annotations

from workers.provisioning.commands import DrainNode, Terminate
from workers.provisioning.inputs import PassInputs
from workers.provisioning.pods import may_evict
from workers.provisioning.records import Lifecycle, NodeRecord


def termination(record: NodeRecord, node_name: str, reason: str) -> Terminate:
    return Terminate(
        record_id=record.id,
        node_name=node_name,
        instance_id=record.instance_id,
        reason=reason,
        price_per_hour=record.price_per_hour,
        subject=record.display_name,
    )


def drains(inputs: PassInputs) -> list[DrainNode | Terminate]:
    commands: list[DrainNode | Terminate] = []
    for record in inputs.active():
        if record.state != Lifecycle.DRAINING:
            continue
        node = inputs.node_of(record)
        if node is None:
            commands.append(termination(record, "", "drained (node already gone)"))
            continue
        # An interrupted spot node goes away regardless; anything else respects do-not-evict.
        evict = tuple(pod for pod in node.workload_pods if record.interrupted_at or may_evict(pod))
        commands.append(
            DrainNode(
                record_id=record.id,
                node_name=node.name,
                evict=evict,
                held=len(node.workload_pods) - len(evict),
                then=termination(record, node.name, record.reason or "drained"),
            )
        )
    return commands
