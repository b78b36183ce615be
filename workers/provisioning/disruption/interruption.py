"""Spot interruption: a node the cloud is about to reclaim is cordoned and drained, and its pods are
planned again in the same pass (the replacement does not wait for the reclaim)."""

from __future__ import annotations

from collections.abc import Sequence

from clusters.cloud.interface import InterruptionNotice, NoticeKind
from workers.provisioning.commands import DisruptionCommand, Interrupt
from workers.provisioning.disruption.base import Candidate, Method
from workers.provisioning.inputs import PassInputs
from workers.provisioning.pods import is_ours


class Interruption(Method):
    def should_disrupt(self, inputs: PassInputs, candidate: Candidate) -> bool:
        return bool(candidate.record.instance_id) and candidate.record.interrupted_at is None

    def compute(self, inputs: PassInputs, candidates: Sequence[Candidate]) -> list[DisruptionCommand]:
        notices: dict[str, InterruptionNotice] = {}
        for notice in inputs.notices:
            if notice.kind == NoticeKind.SPOT_INTERRUPTION:
                notices.setdefault(notice.instance_id, notice)
        # A node replaced early on a rebalance recommendation has its replacement on the way already.
        replaced = {record.id for record in inputs.active() if record.replaced_by_id}
        commands: list[DisruptionCommand] = []
        for candidate in candidates:
            record, node = candidate.record, candidate.node
            found = notices.get(record.instance_id)
            if found is None:
                continue
            early = record.id in replaced
            deadline = f" before {found.deadline:%H:%M:%S} UTC" if found.deadline else ""
            commands.append(
                Interrupt(
                    record_id=record.id,
                    node_name=node.name if node else "",
                    reason=f"spot interruption notice: reclaimed{deadline}",
                    note=f"Spot interruption for {record.instance_type} in {record.zone}: cordoned, draining, "
                    + (
                        "replacement already launched on its rebalance recommendation"
                        if early
                        else "replacement planned"
                    ),
                    subject=record.display_name,
                    # Capacity is planned for our pods only: another scheduler's pod is its own. A node
                    # whose rebalance recommendation already launched a replacement needs none now.
                    replacement_pods=tuple(p for p in node.workload_pods if is_ours(p, inputs.policy))
                    if node and not early
                    else (),
                )
            )
        return commands
