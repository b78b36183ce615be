"""Every write to managed nodes, for the provisioning loop (system entry points: the loop runs for a
cluster, not for a person, so these take the cluster or the row rather than an organization).

A node's life is written here as named transitions. The loop records an intent (a LAUNCHING,
DRAINING or TERMINATING row) before it acts on it, so a worker that dies in between leaves a row the
next pass finishes; these functions are how it records them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count
from django.utils import timezone

from clusters.models import Cluster, ManagedNode, NodeState

REASON_LENGTH = 300


def idempotency_token(cluster_id: Any, plan_node_id: str, attempt: int) -> str:
    """The launch's token: the same plan node tried again after a failed launch gets a new one, a
    launch repeated after a crash the same one (and so the same instance)."""
    digest = hashlib.sha256(f"{cluster_id}:{plan_node_id}:{attempt}".encode()).hexdigest()
    return f"nl-{digest[:40]}"


@dataclass(frozen=True)
class NodeLaunch:
    """What a launch intent is recorded from."""

    plan_node_id: str
    reason: str
    instance_type: str
    capacity_type: str
    zone: str
    price_per_hour: float
    offerings: list[dict[str, Any]]
    planned_pods: list[dict[str, Any]]  # the pods to bind once Ready (`PlannedPod.to_json`)
    reserved_for_pod: str = ""
    policy_version: str = ""
    launched_for: list[str] = field(default_factory=list)


def managed_nodes_launching(cluster: Cluster, *, launches: Sequence[NodeLaunch]) -> list[ManagedNode]:
    """Write the LAUNCHING rows of a plan's launches in one statement (a pass that launches dozens
    of nodes must not pay a round trip per row before the first launch). Raises IntegrityError when
    another worker recorded one of them first (same token): the caller's transaction decides."""
    attempts = dict(
        ManagedNode.objects.filter(
            cluster=cluster, plan_node_id__in=[launch.plan_node_id for launch in launches]
        )
        .values_list("plan_node_id")
        .annotate(tries=Count("pk"))
    )
    requested_at = timezone.now()  # handed to the launcher when recorded
    rows = [
        ManagedNode(
            organization_id=cluster.organization_id,
            cluster=cluster,
            idempotency_token=idempotency_token(
                cluster.pk, launch.plan_node_id, attempts.get(launch.plan_node_id, 0)
            ),
            plan_node_id=launch.plan_node_id,
            state=NodeState.LAUNCHING,
            reason=launch.reason[:REASON_LENGTH],
            instance_type=launch.instance_type,
            capacity_type=launch.capacity_type,
            zone=launch.zone,
            price_per_hour=Decimal(str(round(launch.price_per_hour, 6))),
            offerings=launch.offerings,
            planned_pods=launch.planned_pods,
            launched_for=launch.launched_for,
            reserved_for_pod=launch.reserved_for_pod,
            policy_version=launch.policy_version,
            launch_requested_at=requested_at,
        )
        for launch in launches
    ]
    return ManagedNode.objects.bulk_create(rows)


def managed_node_launch_requested(row: ManagedNode, *, at: datetime) -> None:
    """The first call to the cloud for the row is being made (kept when already set)."""
    if row.launch_requested_at is None:
        row.launch_requested_at = at
        row.save(update_fields=["launch_requested_at"])


def managed_node_launched(
    row: ManagedNode,
    *,
    instance_id: str,
    instance_type: str,
    zone: str,
    capacity_type: str,
    price_per_hour: float,
    at: datetime,
) -> None:
    row.instance_id, row.instance_type, row.zone, row.capacity_type = (
        instance_id,
        instance_type,
        zone,
        capacity_type,
    )
    row.price_per_hour = Decimal(str(price_per_hour))
    row.state, row.launched_at = NodeState.PENDING, at
    row.save(
        update_fields=[
            "instance_id",
            "instance_type",
            "zone",
            "capacity_type",
            "price_per_hour",
            "state",
            "launched_at",
        ]
    )


def _transition(row: ManagedNode, state: NodeState, reason: str, **fields: Any) -> None:
    row.state = state
    if reason:
        row.reason = reason[:REASON_LENGTH]
    for name, value in fields.items():
        setattr(row, name, value)
    row.save(update_fields=["state", "reason", *fields])


def managed_node_failed(row: ManagedNode, *, reason: str) -> None:
    """The launch failed for good, or the instance never became a node."""
    _transition(row, NodeState.FAILED, reason)


def managed_node_ready(
    row: ManagedNode, *, node_name: str, allocatable: dict[str, int], at: datetime
) -> None:
    _transition(row, NodeState.READY, "", node_name=node_name, ready_at=at, allocatable=allocatable)


def managed_node_draining(row: ManagedNode, *, reason: str, interrupted_at: datetime | None = None) -> None:
    if interrupted_at is None:
        _transition(row, NodeState.DRAINING, reason)
    else:
        _transition(row, NodeState.DRAINING, reason, interrupted_at=interrupted_at)


def managed_node_terminating(row: ManagedNode, *, reason: str) -> None:
    _transition(row, NodeState.TERMINATING, reason)


def managed_node_terminated(row: ManagedNode, *, reason: str, at: datetime) -> None:
    """The instance is gone; `reason` "" keeps the row's reason (the one it was terminated for)."""
    _transition(row, NodeState.TERMINATED, reason, terminated_at=at)


def managed_node_plan_pods(row: ManagedNode, *, planned_pods: list[dict[str, Any]]) -> None:
    row.planned_pods = planned_pods
    row.save(update_fields=["planned_pods"])


def managed_node_empty_since(row: ManagedNode, *, since: datetime | None) -> None:
    row.empty_since = since
    row.save(update_fields=["empty_since"])


def managed_nodes_replaced_by(rows: Sequence[ManagedNode], replacement: ManagedNode) -> None:
    """Consolidation: `replacement` is launched to take the pods of `rows`, drained once it is Ready."""
    ManagedNode.objects.filter(pk__in=[row.pk for row in rows]).update(replaced_by=replacement)
    for row in rows:
        row.replaced_by = replacement


def managed_node_replacement_done(row: ManagedNode) -> None:
    """The node's replacement is gone (its launch failed): an ordinary node again."""
    row.replaced_by = None
    row.save(update_fields=["replaced_by"])


def cluster_interruption_queue_found(cluster: Cluster, *, url: str) -> None:
    """Remember the interruption queue the provider found for the cluster (found once, read often)."""
    Cluster.objects.filter(pk=cluster.pk).update(interruption_queue_url=url)
    cluster.interruption_queue_url = url
