"""Garbage collection: instances no record owns, instances that never became nodes, orphaned nodes."""

from __future__ import annotations

from datetime import timedelta

from clusters.cloud.interface import LAUNCH_TOKEN_TAG, InstanceState
from tests.workers.provisioning.provisioning_builders import NOW, inputs, instance, node_json, record
from workers.provisioning.commands import CollectInstance, DeleteNode, GiveUp
from workers.provisioning.disruption.base import disrupt
from workers.provisioning.disruption.garbage import GarbageCollection
from workers.provisioning.records import Lifecycle


def test_an_instance_no_record_owns_is_collected_unless_a_launch_is_resuming_it() -> None:
    resuming = record("r2", Lifecycle.LAUNCHING, instance_id="", idempotency_token="nl-resume")
    listed = {
        "i-r1": instance("i-r1"),
        "i-stray": instance("i-stray"),
        "i-resumed": instance("i-resumed", tags={LAUNCH_TOKEN_TAG: "nl-resume"}),
        "i-gone": instance("i-gone", InstanceState.TERMINATED),
    }
    state = inputs(records=(record("r1"), resuming), instances=listed)
    commands = disrupt(GarbageCollection(frozenset({"i-r1"})), state)
    assert commands == [CollectInstance("i-stray", "m5.large")]


def test_an_instance_that_never_became_a_node_is_given_up() -> None:
    stuck = record("r1", Lifecycle.PENDING, launched_at=NOW - timedelta(minutes=11))
    young = record("r2", Lifecycle.PENDING, launched_at=NOW - timedelta(minutes=2))
    commands = disrupt(GarbageCollection(), inputs(records=(stuck, young)))
    assert commands == [GiveUp("r1", "i-r1", "i-r1")]


def test_a_labelled_node_nothing_owns_is_deleted_only_when_instances_were_listed() -> None:
    orphan = node_json("orphan", instance_id="i-old", record_id="long-gone")
    owned = node_json("node-r1", instance_id="i-r1", record_id="r1")
    records = (record("r1"),)
    listed = {"i-r1": instance("i-r1")}
    found = disrupt(
        GarbageCollection(frozenset({"i-r1"})),
        inputs(nodes=[orphan, owned], records=records, instances=listed),
    )
    assert found == [DeleteNode("orphan")]
    assert disrupt(GarbageCollection(), inputs(nodes=[orphan, owned], records=records)) == []
