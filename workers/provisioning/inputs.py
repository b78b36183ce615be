"""Everything a decision of the pass reads, in one frozen bundle. Pure: no Django, no I/O.

The pass builds `PassInputs` once from what it observed (`reads.observe`), the rows it holds
(`ledger.Ledger`), the instances it listed and the notices it read; after recording intents it
passes on a copy with the changed records (`with_records`), so each decision sees the pass so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from clusters.cloud.interface import Instance, InterruptionNotice
from engines.kube.cluster import ClusterState, ObservedNode
from engines.kube.nodes import Node
from engines.planner import Catalog, PlannerPolicy
from workers.provisioning.pods import MANAGED_LABEL
from workers.provisioning.records import ClusterFacts, NodeRecord


def is_managed(node: ObservedNode) -> bool:
    """A node Nodeless launched (its kubelet registered with our label)."""
    return node.node.labels.get(MANAGED_LABEL) == "nodeless"


class NodeIndex:
    """The observed nodes by the instance of their `spec.providerID` (`aws:///<zone>/<instance-id>`),
    as Karpenter matches a NodeClaim to its Node: whatever the node is named (a stock EKS node is
    named after its private DNS name) and whatever labels it carries. A pass looks up thousands of
    records: a scan per record would be quadratic."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self._by_instance = {
            node.node.instance_id: node for node in state.nodes.values() if node.node.instance_id
        }
        self.managed: tuple[ObservedNode, ...] = tuple(
            node for node in state.nodes.values() if is_managed(node)
        )

    def node_of(self, record: NodeRecord) -> ObservedNode | None:
        if record.instance_id:
            found = self._by_instance.get(record.instance_id)
            if found is not None:
                return found
        if record.node_name and record.node_name in self.state.nodes:
            known = self.state.nodes[record.node_name]
            # A name is reused by a later instance with the same private address: only a node without
            # a providerID (not initialized by the cloud controller yet) is taken by name.
            return known if not known.node.instance_id else None
        return None

    def instance_ids(self) -> frozenset[str]:
        return frozenset(self._by_instance)


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

    @cached_property
    def replacements(self) -> frozenset[str]:
        """The active records launched to replace active ones (consolidation, rebalance): their room
        is the replaced nodes' pods', not the planner's. Read once per candidate: kept (a pass that
        changes its records makes new inputs)."""
        return frozenset(record.replaced_by_id for record in self.active() if record.replaced_by_id)

    def with_records(self, records: tuple[NodeRecord, ...]) -> PassInputs:
        return replace(self, records=records)

    def with_nodes_seen(self, changed: Mapping[str, Mapping[str, Any] | None]) -> PassInputs:
        """The inputs with nodes as the pass's own writes left them (the API server's answers, by
        node name; None: no answer, the node keeps what was observed), so the steps after them,
        binding first, decide on what the nodes are now."""
        nodes = dict(self.state.nodes)
        for name, raw in changed.items():
            seen = nodes.get(name)
            if raw is not None and seen is not None:  # a node gone meanwhile is the next pass's
                nodes[name] = ObservedNode(Node(raw), seen.pods)
        if nodes == dict(self.state.nodes):
            return self
        state = replace(self.state, nodes=nodes)
        return replace(self, state=state, nodes=NodeIndex(state))
