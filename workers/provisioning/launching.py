"""Planning and launching: pending pods → the planner → rows written first → cloud calls.

A launch is recorded as a ManagedNode row *before* the cloud is called, with a deterministic
idempotency token (cluster, the planner's node id, and how many times those pods were tried). A
worker that dies after the call leaves a LAUNCHING row; the next pass repeats the call with the
same token and gets the same instance back instead of a second one.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from clusters.cloud.errors import CloudError, InsufficientCapacityError, ThrottledError
from clusters.cloud.interface import LaunchRequest, LaunchResult
from clusters.cloud.interface import Offering as CloudOffering
from clusters.models import ManagedNode, NodeState
from engines.planner import CapacityType, Launch
from policies.models import Decision, DecisionKind
from workers.provisioning.context import ReconcileContext, remember_failed_offerings
from workers.provisioning.crash import crash_point
from workers.provisioning.decisions import decision_row, offering_dict, record
from workers.provisioning.observe import NODE_ID_LABEL

MANAGED_TAG = "nodeless.io/managed-by"
CLUSTER_TAG = "nodeless.io/cluster"
ORGANIZATION_TAG = "nodeless.io/organization"
POD_TAG = "nodeless.io/pod"
NODE_LABELS_TAG = "nodeless.io/node-labels"
NODE_TAINTS_TAG = "nodeless.io/node-taints"
INITIALIZING_TAINT = "nodeless.io/initializing"
RESERVED_TAINT = "nodeless.io/reserved-for"

# Cloud and API calls of one pass run this many at a time (they are I/O-bound).
PARALLEL_CALLS = 16


@dataclass
class LaunchOutcome:
    launched: list[ManagedNode] = field(default_factory=list)
    failed: list[ManagedNode] = field(default_factory=list)


def idempotency_token(cluster_id: Any, plan_node_id: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{cluster_id}:{plan_node_id}:{attempt}".encode()).hexdigest()
    return f"nl-{digest[:40]}"


def planned_entry(pod: dict[str, Any] | None, uid: str, requests: Any, owner: str = "") -> dict[str, Any]:
    meta = (pod or {}).get("metadata", {})
    return {
        "uid": uid,
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "owner": owner,
        "cpu": requests.cpu_millis,
        "memory": requests.memory_mib,
        "gpu": requests.gpus,
    }


def _tags(ctx: ReconcileContext, row: ManagedNode) -> dict[str, str]:
    cluster = ctx.cluster
    labels = {NODE_ID_LABEL: str(row.pk)}
    # A reserved node keeps its taint for life (nothing else may land on it); a packed node keeps
    # the initializing taint until its planned pods are bound, so the default scheduler cannot
    # take the room the planner meant for them.
    if row.reserved_for_pod and row.planned_pods:
        taint = f"{RESERVED_TAINT}={row.planned_pods[0]['uid']}:NoSchedule"
    else:
        taint = f"{INITIALIZING_TAINT}=true:NoSchedule"
    tags = {
        f"kubernetes.io/cluster/{cluster.eks_cluster_name}": "owned",
        MANAGED_TAG: "nodeless",
        CLUSTER_TAG: str(cluster.pk),
        ORGANIZATION_TAG: str(cluster.organization_id),
        NODE_LABELS_TAG: ",".join(f"{key}={value}" for key, value in labels.items()),
        NODE_TAINTS_TAG: taint,
        "Name": f"nodeless-{cluster.name}-{str(row.pk)[:8]}",
    }
    if row.reserved_for_pod:
        tags[POD_TAG] = row.reserved_for_pod
    return tags


def _cloud_offerings(offerings: list[dict[str, Any]]) -> tuple[CloudOffering, ...]:
    return tuple(
        CloudOffering(o["instance_type"], o["zone"], CapacityType(o["capacity_type"]))
        for o in offerings
        if CapacityType(o["capacity_type"]).is_instance
    )


@dataclass(frozen=True)
class LaunchInputs:
    """What the rows of one plan's launches are written from."""

    pods_by_uid: dict[str, Any]
    requests_by_uid: dict[str, Any]
    owners: dict[str, str]
    replaces: ManagedNode | None = None  # consolidation: the node these launches replace


def _intent(
    ctx: ReconcileContext, launch: Launch, inputs: LaunchInputs, attempt: int
) -> tuple[ManagedNode, Decision]:
    """The unsaved row and launch decision of one planned node."""
    cluster = ctx.cluster
    chosen = launch.chosen
    reserved = ""
    if launch.reserved_for_pod:
        pod = inputs.pods_by_uid.get(launch.reserved_for_pod)
        reserved = (
            f"{pod['metadata']['namespace']}/{pod['metadata']['name']}" if pod else launch.reserved_for_pod
        )
    planned = [
        planned_entry(
            inputs.pods_by_uid.get(uid), uid, inputs.requests_by_uid[uid], inputs.owners.get(uid, "")
        )
        for uid in launch.pod_uids
    ]
    row = ManagedNode(
        organization_id=cluster.organization_id,
        cluster=cluster,
        idempotency_token=idempotency_token(cluster.pk, launch.node_id, attempt),
        plan_node_id=launch.node_id,
        state=NodeState.LAUNCHING,
        reason=launch.decision.reason[:300],
        instance_type=chosen.instance_type,
        capacity_type=chosen.capacity_type.value,
        zone=chosen.zone,
        price_per_hour=Decimal(str(round(chosen.price_per_hour, 6))),
        offerings=[offering_dict(o) for o in launch.offerings],
        planned_pods=planned,
        launched_for=[f"{e['namespace']}/{e['name']}" for e in planned],
        reserved_for_pod=reserved,
        replaces=inputs.replaces,
        policy_version=ctx.policy_version,
        # The launch is requested (handed to the launcher) when its intent is recorded.
        launch_requested_at=timezone.now(),
    )
    decision = decision_row(
        cluster,
        DecisionKind.LAUNCH,
        launch.decision.reason,
        node=row,
        subject=reserved or f"{len(launch.pod_uids)} pods",
        chosen=offering_dict(chosen),
        runner_ups=[offering_dict(o) for o in launch.decision.runner_ups],
        inputs={
            "pods": [e["namespace"] + "/" + e["name"] for e in planned][:50],
            "fallbacks": len(launch.offerings) - 1,
        },
        cost_per_hour=chosen.price_per_hour,
        policy_version=ctx.policy_version,
    )
    return row, decision


def write_launch_rows(
    ctx: ReconcileContext, launches: list[Launch], inputs: LaunchInputs
) -> list[ManagedNode]:
    """The intents of a plan's launches, recorded before any cloud call, in one transaction (a pass
    that launches dozens of nodes must not pay a round trip per row before the first launch). A
    launch another pass already recorded (same token) is left out."""
    if not launches:
        return []
    attempts = dict(
        ManagedNode.objects.filter(
            cluster=ctx.cluster, plan_node_id__in=[launch.node_id for launch in launches]
        )
        .values_list("plan_node_id")
        .annotate(tries=Count("pk"))
    )
    intents = [_intent(ctx, launch, inputs, attempts.get(launch.node_id, 0)) for launch in launches]
    try:
        with transaction.atomic():
            ManagedNode.objects.bulk_create([row for row, _ in intents])
            Decision.objects.bulk_create([decision for _, decision in intents])
    except IntegrityError:
        # Some token exists: another worker recorded one of these launches first. Write them one
        # by one so the others still go ahead.
        return [row for row, decision in intents if _write_one(row, decision)]
    return [row for row, _ in intents]


def _write_one(row: ManagedNode, decision: Decision) -> bool:
    try:
        with transaction.atomic():
            row.save(force_insert=True)
            decision.save(force_insert=True)
    except IntegrityError:
        return False
    return True


def call_launch(ctx: ReconcileContext, row: ManagedNode) -> bool:
    """Launch one row's instance; see `launch_rows`."""
    return launch_rows(ctx, [row])[0]


def launch_rows(ctx: ReconcileContext, rows: list[ManagedNode]) -> list[bool]:
    """Ask the cloud for every row's instance at once (idempotent by token), then record outcomes.
    True for a row that progressed (launched or failed for good); False to retry next pass."""
    if not rows:
        return []
    now = timezone.now()
    for row in rows:
        if row.launch_requested_at is None:
            row.launch_requested_at = now
            row.save(update_fields=["launch_requested_at"])
    requests = [
        LaunchRequest(_cloud_offerings(row.offerings), row.idempotency_token, _tags(ctx, row)) for row in rows
    ]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_CALLS, len(rows))) as pool:
        outcomes = list(pool.map(_request, [ctx.provider] * len(rows), requests))
    crash_point("after_launch")
    return [_record(ctx, row, outcome) for row, outcome in zip(rows, outcomes, strict=True)]


def _request(provider: Any, request: LaunchRequest) -> LaunchResult | CloudError:
    try:
        return provider.launch(request)  # type: ignore[no-any-return]
    except CloudError as error:
        return error


def _record(ctx: ReconcileContext, row: ManagedNode, outcome: LaunchResult | CloudError) -> bool:
    if isinstance(outcome, InsufficientCapacityError):
        remember_failed_offerings(
            ctx.cluster,
            [(o["instance_type"], o["zone"], o["capacity_type"]) for o in row.offerings],
            ctx.now.timestamp(),
        )
        _fail(ctx, row, f"no capacity in any of the {len(row.offerings)} offerings: {outcome.message}")
        return True
    if isinstance(outcome, CloudError):
        if isinstance(outcome, ThrottledError) or outcome.retryable:
            return False  # the row stays LAUNCHING; the next pass repeats the call with the same token
        _fail(ctx, row, outcome.message)
        return True
    result = outcome
    offering = result.offering
    chosen = next(
        (
            o
            for o in row.offerings
            if o["instance_type"] == offering.instance_type
            and o["zone"] == offering.zone
            and CapacityType(o["capacity_type"]) == offering.capacity_type
        ),
        row.offerings[0],
    )
    row.instance_id = result.instance.instance_id
    row.instance_type, row.zone, row.capacity_type = (
        offering.instance_type,
        offering.zone,
        chosen["capacity_type"],
    )
    row.price_per_hour = Decimal(str(chosen["price_per_hour"]))
    row.state = NodeState.PENDING
    row.launched_at = timezone.now()
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
    if result.skipped:
        skipped = [
            (
                f.offering.instance_type,
                f.offering.zone,
                f.offering.capacity_type.value,
            )
            for f in result.skipped
        ]
        remember_failed_offerings(ctx.cluster, skipped, ctx.now.timestamp())
        record(
            ctx.cluster,
            DecisionKind.LAUNCH_FALLBACK,
            f"{len(skipped)} cheaper offering(s) had no capacity; launched {offering.instance_type} "
            f"{chosen['capacity_type']} in {offering.zone} at ${chosen['price_per_hour']:.4f}/h",
            node=row,
            subject=str(row),
            chosen=chosen,
            runner_ups=[
                {"instance_type": t, "zone": z, "capacity_type": c, "error": f.kind}
                for (t, z, c), f in zip(skipped, result.skipped, strict=True)
            ],
            cost_per_hour=float(chosen["price_per_hour"]),
            policy_version=ctx.policy_version,
        )
    return True


def _fail(ctx: ReconcileContext, row: ManagedNode, reason: str) -> None:
    row.state, row.reason = NodeState.FAILED, reason[:300]
    row.save(update_fields=["state", "reason"])
    record(
        ctx.cluster,
        DecisionKind.LAUNCH,
        f"Launch failed: {reason}",
        node=row,
        subject=str(row),
        policy_version=ctx.policy_version,
    )


def launch_row(row_id: str) -> str:
    """Launch one recorded row (the Celery launch task). Idempotent: a row that already progressed is
    left alone, and a repeated cloud call reuses the row's token. A per-row lease keeps two workers
    from calling at once."""
    from workers.leases import release, try_acquire
    from workers.provisioning.context import build_launch_context

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
