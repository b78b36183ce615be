"""A node's life between decisions: registration, vanished instances, launches to resume and
terminations a dead worker recorded but did not finish."""

from __future__ import annotations

from datetime import timedelta

from clusters.cloud.interface import InstanceState
from tests.workers.provisioning.provisioning_builders import NOW, inputs, instance, node_json, record
from workers.provisioning.commands import FinishTermination, Forget, Register
from workers.provisioning.lifecycle import (
    launches_to_resume,
    registrations_and_losses,
    terminations_to_finish,
)
from workers.provisioning.records import Lifecycle


def test_an_instance_that_registered_as_a_ready_node_makes_its_record_ready() -> None:
    waiting = record("r1", Lifecycle.PENDING)
    node = node_json("ip-1", instance_id="i-r1", record_id="r1", cpu="1930m", memory="7Gi")
    (command,) = registrations_and_losses(inputs(nodes=[node], records=(waiting,)))
    assert isinstance(command, Register)
    assert command.node_name == "ip-1" and command.allocatable.cpu_millis == 1930


def test_a_vanished_instance_is_forgotten_and_said_so_unless_the_pass_terminated_it() -> None:
    ready = record("r1")
    terminating = record("r2", Lifecycle.TERMINATING)
    listed = {"i-r2": instance("i-r2", InstanceState.SHUTTING_DOWN)}
    commands = registrations_and_losses(inputs(records=(ready, terminating), instances=listed))
    assert commands == [
        Forget("r1", "", Lifecycle.READY, commands[0].note),  # type: ignore[union-attr]
        Forget("r2", "", Lifecycle.TERMINATING, ""),
    ]
    assert "i-r1 is gone" in commands[0].note  # type: ignore[union-attr]


def test_an_instance_launched_moments_ago_is_not_missing_yet() -> None:
    fresh = record("r1", Lifecycle.PENDING, launched_at=NOW - timedelta(seconds=5))
    assert registrations_and_losses(inputs(records=(fresh,), instances={})) == []


def test_a_termination_whose_node_or_instance_is_still_there_is_finished_again() -> None:
    with_node = record("r1", Lifecycle.TERMINATING, node_name="node-r1")
    with_instance = record("r2", Lifecycle.TERMINATING)
    done = record("r3", Lifecycle.TERMINATING)
    listed = {"i-r2": instance("i-r2"), "i-r3": instance("i-r3", InstanceState.SHUTTING_DOWN)}
    state = inputs(nodes=[node_json("node-r1")], records=(with_node, with_instance, done), instances=listed)
    assert terminations_to_finish(state) == [
        FinishTermination("r1", "node-r1", "i-r1"),
        FinishTermination("r2", "", "i-r2"),
    ]


def test_launches_are_resumed_unless_handed_off_moments_ago() -> None:
    handed = record("r1", Lifecycle.LAUNCHING, launch_requested_at=NOW - timedelta(seconds=5))
    stale = record("r2", Lifecycle.LAUNCHING, launch_requested_at=NOW - timedelta(minutes=5))
    state = inputs(records=(handed, stale))
    assert [r.id for r in launches_to_resume(state, dispatching=True)] == ["r2"]
    assert [r.id for r in launches_to_resume(state, dispatching=False)] == ["r1", "r2"]
