"""Emptiness: a Ready node with no workload pods for the policy's scale-down delay is terminated."""

from __future__ import annotations

from collections.abc import Sequence

from workers.provisioning.commands import DisruptionCommand, MarkEmpty
from workers.provisioning.disruption.base import Candidate, Method, has_workload
from workers.provisioning.drain import termination
from workers.provisioning.inputs import PassInputs
from workers.provisioning.records import Lifecycle


class Emptiness(Method):
    def should_disrupt(self, inputs: PassInputs, candidate: Candidate) -> bool:
        return candidate.record.state == Lifecycle.READY and candidate.node is not None

    def compute(self, inputs: PassInputs, candidates: Sequence[Candidate]) -> list[DisruptionCommand]:
        delay = inputs.scale_down_delay
        commands: list[DisruptionCommand] = []
        for candidate in candidates:
            record, node = candidate.record, candidate.node
            assert node is not None  # should_disrupt
            # Pods bound in this pass are not in the observed state yet: a node that received pods now
            # is busy too.
            busy = bool(record.planned_pods) or record.id in inputs.bound_now or has_workload(node)
            if busy:
                if record.empty_since is not None:
                    commands.append(MarkEmpty(record.id, None))
                continue
            since = record.empty_since
            if since is None:
                since = inputs.now
                commands.append(MarkEmpty(record.id, since))
            if inputs.now - since >= delay:
                reason = (
                    f"empty (daemonsets aside) for {int(delay.total_seconds())} s: "
                    f"saves ${record.price_per_hour:.4f}/h"
                )
                commands.append(termination(record, node.name, reason))
        return commands
