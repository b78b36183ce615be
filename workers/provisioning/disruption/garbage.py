"""Garbage collection: instances tagged for the cluster that no record owns (a launch that crashed
before it was recorded), instances that never became a Ready node, and nodes Nodeless labelled that
neither a record nor an instance owns any more."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from clusters.cloud.interface import LAUNCH_TOKEN_TAG
from workers.provisioning.commands import CollectInstance, DeleteNode, DisruptionCommand, GiveUp
from workers.provisioning.disruption.base import Candidate, Method
from workers.provisioning.inputs import PassInputs
from workers.provisioning.lifecycle import GONE
from workers.provisioning.records import Lifecycle

# An instance that has not become a Ready node this long after launch is terminated.
REGISTRATION_TIMEOUT = timedelta(minutes=10)


class GarbageCollection(Method):
    def __init__(self, known_instance_ids: frozenset[str] = frozenset()) -> None:
        # Instances of active records as the database holds them now: launch tasks in other workers
        # record instances while the pass runs, and those are not garbage.
        self.known_instance_ids = known_instance_ids

    def should_disrupt(self, inputs: PassInputs, candidate: Candidate) -> bool:
        record = candidate.record
        return (
            record.state == Lifecycle.PENDING
            and record.launched_at is not None
            and inputs.now - record.launched_at > REGISTRATION_TIMEOUT
        )

    def compute(self, inputs: PassInputs, candidates: Sequence[Candidate]) -> list[DisruptionCommand]:
        commands: list[DisruptionCommand] = list(self._unowned_instances(inputs))
        commands += [
            GiveUp(candidate.record.id, candidate.record.instance_id, candidate.record.display_name)
            for candidate in candidates
        ]
        given_up = {candidate.record.id for candidate in candidates}
        commands += self._orphaned_nodes(inputs, given_up)
        return commands

    def _unowned_instances(self, inputs: PassInputs) -> list[CollectInstance]:
        launching = {
            record.idempotency_token for record in inputs.active() if record.state == Lifecycle.LAUNCHING
        }
        return [
            CollectInstance(instance.instance_id, instance.instance_type)
            for instance in (inputs.instances or {}).values()
            if instance.state not in GONE
            and instance.instance_id not in self.known_instance_ids
            # a launch being resumed in this very pass
            and instance.tags.get(LAUNCH_TOKEN_TAG) not in launching
        ]

    @staticmethod
    def _orphaned_nodes(inputs: PassInputs, given_up: set[str]) -> list[DeleteNode]:
        if inputs.instances is None:
            return []
        owned = {
            record.instance_id
            for record in inputs.active()
            if record.instance_id and record.id not in given_up
        }
        return [
            DeleteNode(node.name)
            for node in inputs.nodes.managed
            if node.node.instance_id not in owned and node.node.instance_id not in inputs.instances
        ]
