"""The drain decision: what is evicted from a draining node, and what it waits for."""

from __future__ import annotations

from tests.workers.provisioning.provisioning_builders import NOW, inputs, node_json, pod_json, record
from workers.provisioning.commands import DrainNode, Terminate
from workers.provisioning.drain import drains
from workers.provisioning.records import Lifecycle

STAY = {"nodeless.io/do-not-evict": "true"}


def test_a_draining_node_evicts_what_may_be_evicted_and_waits_for_the_rest() -> None:
    pods = [pod_json("a", node="node-r1"), pod_json("b", node="node-r1", annotations=STAY)]
    draining = record("r1", Lifecycle.DRAINING, reason="consolidation")
    (step,) = drains(inputs(pods=pods, nodes=[node_json("node-r1")], records=(draining,)))
    assert isinstance(step, DrainNode)
    assert [p.name for p in step.evict] == ["a"] and step.held == 1
    assert step.then.reason == "consolidation" and step.then.instance_id == "i-r1"


def test_an_interrupted_node_evicts_everything() -> None:
    pods = [pod_json("b", node="node-r1", annotations=STAY)]
    draining = record("r1", Lifecycle.DRAINING, interrupted_at=NOW)
    (step,) = drains(inputs(pods=pods, nodes=[node_json("node-r1")], records=(draining,)))
    assert isinstance(step, DrainNode) and step.held == 0 and len(step.evict) == 1


def test_a_draining_record_whose_node_is_gone_is_terminated() -> None:
    (step,) = drains(inputs(records=(record("r1", Lifecycle.DRAINING),)))
    assert (
        isinstance(step, Terminate) and step.reason == "drained (node already gone)" and step.node_name == ""
    )
