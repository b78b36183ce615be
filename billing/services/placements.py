"""Keeping `PodPlacement` current: where each pod of a cluster runs, on what, at what price, and the
decision that launched its node. Only rows that changed are written (clusters hold many pods)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.models import PodPlacement
from billing.services.samples import ClusterRead, workload_of
from clusters.models import Cluster
from engines.kube.pods import try_requests
from engines.metering import NodeSample, PodSample, pod_cost_per_hour
from policies.models import Decision, DecisionKind

_COMPARED = (
    "workload",
    "phase",
    "node_name",
    "managed_node_id",
    "decision_id",
    "instance_type",
    "capacity_type",
    "zone",
    "node_price_per_hour",
    "cost_per_hour",
    "cpu",
    "memory_gib",
    "gpus",
)


def _price(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 8)))


def launch_decisions(cluster: Cluster, *, node_ids: Sequence[str]) -> dict[str, int]:
    """The planning decision of each of the cluster's launched nodes (the first launch decision: it
    holds the runner-ups the planner compared)."""
    rows = (
        Decision.objects.filter(
            organization_id=cluster.organization_id,
            cluster=cluster,
            node_id__in=[uuid.UUID(node_id) for node_id in node_ids],
            kind=DecisionKind.LAUNCH,
        )
        .order_by("node_id", "id")
        .values_list("node_id", "id")
    )
    first: dict[str, int] = {}
    for node_id, decision_id in rows:
        first.setdefault(str(node_id), decision_id)
    return first


def _wanted(
    cluster: Cluster, read: ClusterRead, nodes: Sequence[NodeSample], pods: Sequence[PodSample]
) -> dict[tuple[str, str], dict[str, Any]]:
    nodes_by_name = {node.name: node for node in nodes}
    samples = {(pod.namespace, pod.name): pod for pod in pods}
    decisions = launch_decisions(
        cluster, node_ids=[node.managed_node_id for node in nodes if node.managed_node_id]
    )
    wanted = {}
    for pod in read.pods or ():
        requests = try_requests(pod)
        if pod.is_finished or pod.is_terminating or requests is None:
            continue
        key = (pod.namespace[:63], pod.name[:253])
        node = nodes_by_name.get(pod.node_name)
        sample = samples.get(key)
        wanted[key] = {
            "workload": workload_of(pod)[:300],
            "phase": pod.phase[:16],
            "node_name": pod.node_name[:253],
            "managed_node_id": (node.managed_node_id or None) if node else None,
            "decision_id": decisions.get(node.managed_node_id) if node and node.managed_node_id else None,
            "instance_type": node.instance_type[:64] if node else "",
            "capacity_type": node.billed_capacity_type if node else "",
            "zone": node.zone[:48] if node else "",
            "node_price_per_hour": _price(node.price_per_hour) if node else None,
            "cost_per_hour": _price(pod_cost_per_hour(sample, node)) if node and sample else Decimal(0),
            "cpu": requests.cpu_millis / 1000,
            "memory_gib": requests.memory_mib / 1024,
            "gpus": float(requests.gpus),
        }
    return wanted


def _same(row: PodPlacement, values: dict[str, Any]) -> bool:
    for name in _COMPARED:
        current, new = getattr(row, name), values[name]
        if isinstance(current, uuid.UUID):
            current = str(current)  # ids of the wanted rows are strings
        if current != new:  # Decimals compare by value, whatever their exponent
            return False
    return True


def placements_refresh(
    cluster: Cluster,
    *,
    read: ClusterRead,
    nodes: Sequence[NodeSample],
    pods: Sequence[PodSample],
    now: datetime,
) -> int:
    """Bring the cluster's placements up to date with one observation; returns the rows written."""
    if read.pods is None:
        return 0  # the cluster could not be listed: keep the last known placements
    wanted = _wanted(cluster, read, nodes, pods)
    existing = {(row.namespace, row.name): row for row in PodPlacement.objects.filter(cluster=cluster)}
    gone = [row.pk for key, row in existing.items() if key not in wanted]
    created, changed = [], []
    for key, values in wanted.items():
        row = existing.get(key)
        if row is None:
            created.append(
                PodPlacement(
                    organization_id=cluster.organization_id,
                    cluster=cluster,
                    namespace=key[0],
                    name=key[1],
                    updated_at=now,
                    **values,
                )
            )
        elif not _same(row, values):
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = now
            changed.append(row)
    if gone:
        PodPlacement.objects.filter(pk__in=gone).delete()
    PodPlacement.objects.bulk_create(created, batch_size=2000)
    PodPlacement.objects.bulk_update(changed, [*_COMPARED, "updated_at"], batch_size=2000)
    return len(created) + len(changed) + len(gone)
