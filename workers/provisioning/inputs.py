"""Everything a decision of the pass reads, in one frozen bundle. Pure: no Django, no I/O.

The pass builds `PassInputs` once from what it observed (`reads.observe`), the rows it holds
(`ledger.Ledger`), the instances it listed and the notices it read; after recording intents it
passes on a copy with the changed records (`with_records`), so each decision sees the pass so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from clusters.cloud.interface import Instance, InterruptionNotice
from engines.kube.cluster import ClusterState, ObservedNode
from engines.planner import Catalog, PlannerPolicy
from workers.provisioning.pods import NODE_ID_LABEL
from workers.provisioning.records import ClusterFacts, NodeRecord


class NodeIndex:
    """The observed nodes Nodeless manages, by the row id they carry as a label and by instance id
    (a pass looks up thousands of records: a scan per record would be quadratic)."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.managed: tuple[ObservedNode, ...] = tuple(
            node for node in state.nodes.values() if NODE_ID_LABEL in node.node.labels
        )
        self._by_row = {node.node.labels[NODE_ID_LABEL]: node for node in self.managed}
        self._by_instance = {node.node.instance_id: node for node in self.managed if node.node.instance_id}

    def node_of(self, record: NodeRecord) -> ObservedNode | None:
        if record.node_name and record.node_name in self.state.nodes:
            return self.state.nodes[record.node_name]
        found = self._by_row.get(record.id)
        if found is None and record.instance_id:
            found = self._by_instance.get(record.instance_id)
        return found


@dataclass(frozen=True)
class PassInputs:
    cluster: ClusterFacts
    state: ClusterState
    nodes: NodeIndex
    # Every row the pass holds: those active when it began and those it launched since.
    records: tuple[NodeRecord, ...]
    # Our instances by id; None when the pass did not list them (listing is rate-limited).
    instances: Mapping[str, Instance] | None
    policy: PlannerPolicy
    catalog: Catalog
    scale_down_delay: timedelta
    now: datetime
    notices: tuple[InterruptionNotice, ...] = ()
    # Records whose node received pods in this pass (not in the observed state yet).
    bound_now: frozenset[str] = field(default_factory=frozenset)

    def active(self) -> list[NodeRecord]:
        return [record for record in self.records if record.active]

    def node_of(self, record: NodeRecord) -> ObservedNode | None:
        return self.nodes.node_of(record)

    def with_records(self, records: tuple[NodeRecord, ...]) -> PassInputs:
        return replace(self, records=records)
