"""Emptiness: a Ready node without workload pods is terminated after the scale-down delay."""

from __future__ import annotations

from datetime import timedelta

from tests.workers.provisioning.provisioning_builders import NOW, inputs, node_json, planned, pod_json, record
from workers.provisioning.commands import MarkEmpty, Terminate
from workers.provisioning.disruption.base import disrupt
from workers.provisioning.disruption.emptiness import Emptiness

NODE = node_json("node-r1", instance_id="i-r1", record_id="r1")


def test_a_node_that_just_emptied_is_marked_and_kept_for_the_delay() -> None:
    agent = pod_json("agent", node="node-r1", daemonset="ds")
    done = pod_json("job", node="node-r1", phase="Succeeded")
    commands = disrupt(Emptiness(), inputs(pods=[agent, done], nodes=[NODE], records=(record("r1"),)))
    assert commands == [MarkEmpty("r1", NOW)]


def test_a_node_empty_for_the_delay_is_terminated() -> None:
    empty = record("r1", empty_since=NOW - timedelta(seconds=30))
    (command,) = disrupt(Emptiness(), inputs(nodes=[NODE], records=(empty,)))
    assert isinstance(command, Terminate)
    assert command.reason == "empty (daemonsets aside) for 30 s: saves $0.0960/h"
    assert (command.node_name, command.instance_id) == ("node-r1", "i-r1")


def test_a_node_busy_again_forgets_it_was_empty() -> None:
    busy = pod_json("web", node="node-r1")
    empty = record("r1", empty_since=NOW - timedelta(seconds=5))
    assert disrupt(Emptiness(), inputs(pods=[busy], nodes=[NODE], records=(empty,))) == [
        MarkEmpty("r1", None)
    ]


def test_pods_planned_or_bound_in_this_pass_keep_a_node_busy() -> None:
    waiting = record("r1", planned_pods=(planned(pod_json("web")),))
    assert disrupt(Emptiness(), inputs(nodes=[NODE], records=(waiting,))) == []
    assert (
        disrupt(Emptiness(), inputs(nodes=[NODE], records=(record("r1"),), bound_now=frozenset({"r1"}))) == []
    )
