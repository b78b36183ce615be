"""Rebalance recommendations: EC2 warns that a spot instance is at elevated risk of interruption,
often well before the two-minute notice. Karpenter only logs them (aws/karpenter-provider-aws#2813);
EC2 Auto Scaling's Capacity Rebalancing launches a replacement first and retires the old instance
once the replacement is in service. Nodeless does the latter: the node's pods are planned onto a new
node (never the offering at risk; the DaemonSets of its instance type reserved, as for a launch), recorded as its replacement, and the node is drained once it is
Ready (`consolidation.replacements_settled`). One node for one, as Capacity Rebalancing: pods that
would need several new nodes stay until the interruption notice (a drain waiting on one of several
replacements would evict pods whose room is not there yet). If the interruption comes first, the replacement
is already on its way (`interruption.Interruption` does not plan the pods twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from clusters.cloud.interface import NoticeKind
from engines.kube.capacity import CapacityType
from engines.planner import Catalog, Snapshot, plan
from workers.provisioning.commands import Consolidate, DisruptionCommand
from workers.provisioning.disruption.base import Candidate, Method, has_workload
from workers.provisioning.inputs import PassInputs
from workers.provisioning.launch import launch_node, new_node_overhead, plannable, type_overheads
from workers.provisioning.records import Lifecycle, NodeRecord


def _without_offering_at_risk(catalog: Catalog, record: NodeRecord) -> Catalog:
    return replace(
        catalog,
        offerings=tuple(
            o
            for o in catalog.offerings
            if not (
                o.capacity_type is CapacityType.SPOT
                and o.instance_type == record.instance_type
                and o.zone == record.zone
            )
        ),
    )


class Rebalance(Method):
    def should_disrupt(self, inputs: PassInputs, candidate: Candidate) -> bool:
        record, node = candidate.record, candidate.node
        return (
            record.state == Lifecycle.READY
            and record.interrupted_at is None
            and not record.replaced_by_id
            and record.id not in inputs.replacements
            and node is not None
            and has_workload(node)
        )

    def compute(self, inputs: PassInputs, candidates: Sequence[Candidate]) -> list[DisruptionCommand]:
        advised = {n.instance_id for n in inputs.notices if n.kind == NoticeKind.REBALANCE_RECOMMENDATION}
        commands: list[DisruptionCommand] = []
        for candidate in candidates:
            record, node = candidate.record, candidate.node
            if record.instance_id not in advised or node is None:
                continue
            by_uid, requests, refused = plannable(node.workload_pods)
            if refused or not requests:
                continue
            snapshot = Snapshot(
                pods=tuple(requests.values()),
                daemonset_overhead=new_node_overhead(inputs),
                type_daemonset_overhead=type_overheads(inputs),
                region=inputs.cluster.region,
            )
            result = plan(snapshot, inputs.policy, _without_offering_at_risk(inputs.catalog, record))
            if result.unschedulable or len(result.launches) != 1:
                continue  # nowhere else to go in one node: the node keeps its pods until the cloud decides
            (launch,) = result.launches
            note = (
                f"Rebalance recommendation for {record.instance_type} spot in {record.zone}: replacement "
                f"{launch.chosen.instance_type} launched early; {node.name} is drained once it is Ready"
            )
            replacement = launch_node(launch, by_uid, requests)
            commands.append(Consolidate((record.id,), (node.name,), note, 0.0, replacement, rebalance=True))
        return commands
