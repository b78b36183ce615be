"""Launching recorded rows: the cloud calls for LAUNCHING rows, and their outcomes recorded.

A launch is recorded as a ManagedNode row *before* the cloud is called, with a deterministic
idempotency token (cluster, the planner's node id, and how many times those pods were tried). A
worker that dies after the call leaves a LAUNCHING row; the next pass repeats the call with the
same token and gets the same instance back instead of a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.utils import timezone

from clusters.cloud.errors import CloudError, InsufficientCapacityError, ThrottledError
from clusters.cloud.interface import LaunchRequest, LaunchResult
from clusters.models import ManagedNode, NodeState
from clusters.services.managed_nodes import (
    managed_node_failed,
    managed_node_launch_requested,
    managed_node_launched,
)
from engines.kube import CapacityType
from policies.models import DecisionKind
from policies.services.decisions import decision_build, decisions_record
from workers.leases import release, try_acquire
from workers.provisioning.context import ReconcileContext, build_launch_context, remember_failed_offerings
from workers.provisioning.crash import crash_point
from workers.provisioning.executors import launch_instances
from workers.provisioning.launch_request import launch_request, launched_offering
from workers.provisioning.records import NodeRecord
from workers.provisioning.rows import node_record
from workers.provisioning.spot_fallback import fallback_seconds, spot_only, waits_for_spot


def launch_rows(ctx: ReconcileContext, rows: list[ManagedNode]) -> list[bool]:
    """Ask the cloud for every row's instance at once (idempotent by token), then record outcomes.
    True for a row that progressed (launched or failed for good); False to retry next pass."""
    if not rows:
        return []
    now = timezone.now()
    for row in rows:
        managed_node_launch_requested(row, at=now)
    records = [node_record(row) for row in rows]
    prepared = [_prepare(ctx, record) for record in records]
    seconds = fallback_seconds(ctx.settings)
    waiting = [
        isinstance(p, LaunchRequest)
        and waits_for_spot(p, created_at=row.created_at, now=now, seconds=seconds)
        for p, row in zip(prepared, rows, strict=True)
    ]
    requests = [
        spot_only(p) if wait and isinstance(p, LaunchRequest) else p
        for p, wait in zip(prepared, waiting, strict=True)
    ]
    launched = iter(launch_instances(ctx.provider, [r for r in requests if isinstance(r, LaunchRequest)]))
    outcomes = [next(launched) if isinstance(r, LaunchRequest) else r for r in requests]
    crash_point("after_launch")
    return [
        _record(ctx, row, record, outcome, waiting_for_spot=wait)
        for row, record, outcome, wait in zip(rows, records, outcomes, waiting, strict=True)
    ]


def _prepare(ctx: ReconcileContext, record: NodeRecord) -> LaunchRequest | CloudError:
    """The record's launch, from the node class's launch templates and subnets."""
    try:
        return ctx.node_class.place(launch_request(ctx.facts, record, ctx.policy), ctx.catalog, ctx.policy)
    except CloudError as error:
        return error
    except ValueError as error:  # user data a kubelet would refuse, or over the template limit
        return CloudError(f"cannot write the launch template: {error}")


def _record(
    ctx: ReconcileContext,
    row: ManagedNode,
    record: NodeRecord,
    outcome: LaunchResult | CloudError,
    *,
    waiting_for_spot: bool = False,
) -> bool:
    offerings = [(o["instance_type"], o["zone"], o["capacity_type"]) for o in record.offerings]
    if isinstance(outcome, InsufficientCapacityError) and waiting_for_spot:
        # No spot capacity yet: ask again next pass, and for on-demand too once the policy's time is up.
        spot = [o for o in offerings if o[2] == CapacityType.SPOT.value]
        remember_failed_offerings(ctx.cluster, spot, ctx.now.timestamp())
        return False
    if isinstance(outcome, InsufficientCapacityError):
        remember_failed_offerings(ctx.cluster, offerings, ctx.now.timestamp())
        _fail(ctx, row, f"no capacity in any of the {len(offerings)} offerings: {outcome.message}")
        return True
    if isinstance(outcome, CloudError):
        if isinstance(outcome, ThrottledError) or outcome.retryable:
            return False  # the row stays LAUNCHING; the next pass repeats the call with the same token
        _fail(ctx, row, outcome.message)
        return True
    offering = outcome.offering
    chosen = launched_offering(record, offering)
    managed_node_launched(
        row,
        instance_id=outcome.instance.instance_id,
        instance_type=offering.instance_type,
        zone=offering.zone,
        capacity_type=chosen["capacity_type"],
        price_per_hour=chosen["price_per_hour"],
        at=timezone.now(),
    )
    if outcome.skipped:
        _record_fallback(ctx, row, outcome, chosen)
    return True


def _record_fallback(
    ctx: ReconcileContext, row: ManagedNode, result: LaunchResult, chosen: Mapping[str, Any]
) -> None:
    skipped = [
        (f.offering.instance_type, f.offering.zone, f.offering.capacity_type.value) for f in result.skipped
    ]
    remember_failed_offerings(ctx.cluster, skipped, ctx.now.timestamp())
    offering = result.offering
    fallback = decision_build(
        ctx.cluster,
        kind=DecisionKind.LAUNCH_FALLBACK,
        reason=f"{len(skipped)} cheaper offering(s) had no capacity; launched {offering.instance_type} "
        f"{chosen['capacity_type']} in {offering.zone} at ${chosen['price_per_hour']:.4f}/h",
        node=row,
        subject=str(row),
        chosen=dict(chosen),
        runner_ups=[
            {"instance_type": t, "zone": z, "capacity_type": c, "error": f.kind}
            for (t, z, c), f in zip(skipped, result.skipped, strict=True)
        ],
        cost_per_hour=float(chosen["price_per_hour"]),
        policy_version=ctx.policy_version,
    )
    decisions_record([fallback])


def _fail(ctx: ReconcileContext, row: ManagedNode, reason: str) -> None:
    managed_node_failed(row, reason=reason)
    failed = decision_build(
        ctx.cluster,
        kind=DecisionKind.LAUNCH,
        reason=f"Launch failed: {reason}",
        node=row,
        subject=str(row),
        policy_version=ctx.policy_version,
    )
    decisions_record([failed])


def launch_row(row_id: str) -> str:
    """Launch one recorded row (the Celery launch task). Idempotent: a row that already progressed is
    left alone, and a repeated cloud call reuses the row's token. A per-row lease keeps two workers
    from calling at once."""
    row = (
        ManagedNode.objects.select_related("cluster__organization", "cluster__cloud_account")
        .filter(pk=row_id)
        .first()
    )
    if row is None or row.state != NodeState.LAUNCHING:
        return "skipped"
    lease = try_acquire(f"launch:{row.pk}", ttl=timedelta(seconds=120))
    if lease is None:
        return "busy"
    try:
        row.refresh_from_db()
        if row.state != NodeState.LAUNCHING:
            return "skipped"
        launch_rows(build_launch_context(row.cluster, timezone.now(), row.policy_version), [row])
        return row.state
    finally:
        release(lease)
