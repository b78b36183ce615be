"""Reading the managed-node rows of a cluster, and the typed record a decision sees of each one."""

from __future__ import annotations

from collections.abc import Sequence

from clusters.models import ACTIVE_STATES, Cluster, ManagedNode
from workers.provisioning.records import Lifecycle, NodeRecord, PlannedPod


def node_record(row: ManagedNode) -> NodeRecord:
    return NodeRecord(
        id=str(row.pk),
        state=Lifecycle(row.state),
        idempotency_token=row.idempotency_token,
        plan_node_id=row.plan_node_id,
        reason=row.reason,
        instance_id=row.instance_id,
        node_name=row.node_name,
        instance_type=row.instance_type,
        capacity_type=row.capacity_type,
        zone=row.zone,
        price_per_hour=float(row.price_per_hour),
        offerings=tuple(row.offerings),
        planned_pods=tuple(PlannedPod.from_json(entry) for entry in row.planned_pods),
        reserved_for_pod=row.reserved_for_pod,
        replaced_by_id=str(row.replaced_by_id) if row.replaced_by_id else "",
        interrupted_at=row.interrupted_at,
        empty_since=row.empty_since,
        launch_requested_at=row.launch_requested_at,
        launched_at=row.launched_at,
        ready_at=row.ready_at,
        policy_version=row.policy_version,
    )


def active_rows(cluster: Cluster) -> list[ManagedNode]:
    return list(ManagedNode.objects.filter(cluster=cluster, state__in=ACTIVE_STATES))


def active_rows_of(clusters: Sequence[Cluster]) -> dict[str, list[ManagedNode]]:
    """The active rows of each of `clusters` (by cluster id), in one query."""
    rows: dict[str, list[ManagedNode]] = {str(cluster.pk): [] for cluster in clusters}
    for row in ManagedNode.objects.filter(cluster__in=clusters, state__in=ACTIVE_STATES):
        rows[str(row.cluster_id)].append(row)
    return rows


def known_instance_ids(cluster: Cluster) -> frozenset[str]:
    """The instances of the cluster's active rows as the database holds them now (launch tasks in
    other workers record instances while a pass runs)."""
    return frozenset(
        ManagedNode.objects.filter(cluster=cluster, state__in=ACTIVE_STATES)
        .exclude(instance_id="")
        .values_list("instance_id", flat=True)
    )
