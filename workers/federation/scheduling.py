"""The decide step of a pass: every active workload through the engine, against one fleet.

1. Snapshot every member (free capacity net of what our placements hold, prices, labels,
   reachability) and prepare one ``Fleet``.
2. For each workload (oldest first): its engine spec, policy and current placement, the failure
   plan (``failover``), then ``schedule`` in steady mode, charging the fleet with the changes so
   the next decision sees the capacity this one took.
3. Turn each result into placement rows (new, resized, or zero replicas = to be removed) and,
   when something changed or the outcome is worth telling, a Decision row with the chosen
   clusters, the runner-ups with their prices, and the engine's reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from clusters.models import Cluster
from engines.federation import (
    CurrentPlacement,
    Fleet,
    Location,
    Outcome,
    PlacementPolicy,
    Resources,
    ScheduleResult,
    WorkloadSpec,
    schedule,
    webster,
)
from engines.federation import WorkloadKind as EngineKind
from policies.federation.snapshots import Inventory, Usage, fleet_snapshots
from policies.federation.spec import engine_policy
from policies.models import Decision, DecisionKind, Placement, PlacementState, Workload, WorkloadKind
from workers.federation.failover import FailurePlan, failure_plan
from workers.federation.status import TERMINAL_PLACEMENT_STATES


@dataclass
class Decided:
    workload: Workload
    result: ScheduleResult
    failure: FailurePlan
    changed: bool = False
    decision: Decision | None = None
    created: list[Placement] = field(default_factory=list)
    updated: list[Placement] = field(default_factory=list)


def replica_usage(workload: Workload) -> Usage:
    return Usage(workload.cpu_millis, workload.memory_mib, workload.gpus, 1)


def usage_by_cluster(workloads: Mapping[str, Workload], placements: Sequence[Placement]) -> dict[str, Usage]:
    """What our live placements hold in each cluster (removed or finished ones hold nothing)."""
    usage: dict[str, Usage] = {}
    for placement in placements:
        workload = workloads.get(str(placement.workload_id))
        if (
            workload is None
            or workload.deleted_at is not None
            or placement.state in TERMINAL_PLACEMENT_STATES
        ):
            continue
        key = str(placement.cluster_id)
        usage[key] = usage.get(key, Usage()) + replica_usage(workload).times(placement.replicas)
    return usage


def workload_spec(workload: Workload) -> WorkloadSpec:
    source = None
    if workload.data_location:
        parts = workload.data_location.split("/")
        source = Location(parts[0], parts[1], parts[2] if len(parts) > 2 else "")
    return WorkloadSpec(
        id=str(workload.pk),
        kind=EngineKind.JOB if workload.kind == WorkloadKind.JOB else EngineKind.DEPLOYMENT,
        replicas=workload.desired_replicas,
        requests=Resources(workload.cpu_millis, workload.memory_mib, workload.gpus),
        namespace=workload.namespace,
        labels=workload.labels or {},
        egress_gb_per_hour=float(workload.egress_gb_per_hour),
        egress_source=source,
    )


def build_fleet(
    clusters: Sequence[Cluster],
    inventories: Mapping[str, Inventory | None],
    workloads: Mapping[str, Workload],
    placements: Sequence[Placement],
) -> Fleet:
    return Fleet(fleet_snapshots(clusters, inventories, usage_by_cluster(workloads, placements)))


def needs_scheduling(workload: Workload, placements: Sequence[Placement]) -> bool:
    """Deleted workloads and finished Jobs are not placed again."""
    if workload.deleted_at is not None:
        return False
    live = [p for p in placements if p.replicas]
    return not (live and all(p.state in TERMINAL_PLACEMENT_STATES for p in live))


def decide(
    workload: Workload,
    placements: Sequence[Placement],
    fleet: Fleet,
    policies: dict[tuple[str, int], PlacementPolicy],
    now: datetime,
) -> Decided:
    """One workload through the engine (steady mode); the fleet is not charged here."""
    key = (str(workload.policy_id), workload.policy.version)
    if key not in policies:
        policies[key] = engine_policy(workload.policy.spec)
    current = {
        str(p.cluster_id): p.replicas for p in placements if p.replicas and p.state != PlacementState.REMOVING
    }
    since = (now - workload.placement_changed_at).total_seconds() if workload.placement_changed_at else None
    plan = failure_plan(workload, placements, now)
    result = schedule(
        workload_spec(workload),
        policies[key],
        fleet,
        CurrentPlacement(current, since),
        avoid=plan.avoid,
        keep_current=plan.keep_current,
    )
    return Decided(workload, result, plan)


def _completions(workload: Workload, replicas: Mapping[str, int]) -> dict[str, int | None]:
    """A Job's completions divided like its parallelism (Webster, by each cluster's share)."""
    if workload.kind != WorkloadKind.JOB or workload.completions is None or not replicas:
        return dict.fromkeys(replicas)
    clusters = sorted(replicas)
    split = webster(workload.completions, [replicas[c] for c in clusters], list(range(len(clusters))))
    return {cluster: max(1, count) for cluster, count in zip(clusters, split, strict=True)}


def place(
    decided: Decided, placements: Sequence[Placement], clusters: Mapping[str, Cluster], now: datetime
) -> None:
    """Turn the engine's answer into placement rows (in memory: ``created`` and ``updated``)."""
    workload, result = decided.workload, decided.result
    completions = _completions(workload, result.replicas)
    by_cluster = {str(p.cluster_id): p for p in placements}
    for cluster_id, replicas in result.replicas.items():
        placement = by_cluster.get(cluster_id)
        if placement is None:
            decided.created.append(
                Placement(
                    organization_id=workload.organization_id,
                    workload=workload,
                    cluster=clusters[cluster_id],
                    replicas=replicas,
                    completions=completions[cluster_id],
                    state=PlacementState.PENDING,
                    created_at=now,
                )
            )
        elif placement.replicas != replicas or placement.completions != completions[cluster_id]:
            placement.replicas, placement.completions = replicas, completions[cluster_id]
            if placement.state == PlacementState.REMOVING:
                placement.state = (
                    PlacementState.APPLIED if placement.applied_generation else PlacementState.PENDING
                )
            decided.updated.append(placement)
    reason = "moved by a failover decision" if decided.failure.given_up else "no longer placed here"
    for cluster_id, placement in by_cluster.items():
        if cluster_id not in result.replicas and placement.replicas:
            placement.replicas = 0
            placement.state = PlacementState.REMOVING
            placement.reason = f"{placement.cluster.name}: {reason}; removing our objects"
            decided.updated.append(placement)
    decided.changed = bool(decided.created or decided.updated)


def decision_row(
    decided: Decided, names: Mapping[str, str], reason_before: str, now: datetime
) -> Decision | None:
    """A Decision row when the placement changed, a generation was scheduled, or the outcome
    is not a clean placement and its reason is news; None otherwise."""
    workload, result = decided.workload, decided.result
    record = decided.changed or workload.generation > workload.scheduled_generation
    record = record or (result.outcome is not Outcome.PLACED and result.decision.reason not in reason_before)
    if not record:
        return None
    decision = result.decision.as_dict()
    moved_off = [names.get(c, c) for c in decided.failure.given_up if result.changes().get(c, 0) < 0]
    kind = DecisionKind.FAILOVER if moved_off else DecisionKind.PLACEMENT
    reason = result.decision.reason
    if moved_off:
        reason = f"failover from {', '.join(moved_off)}: {reason}"
    chosen = cast("list[dict[str, Any]]", decision["chosen"])
    single = chosen[0]["cluster_id"] if len(chosen) == 1 else None
    return Decision(
        organization_id=workload.organization_id,
        cluster_id=single,
        workload=workload,
        kind=kind,
        subject=str(workload)[:320],
        reason=reason[:500],
        chosen={
            "clusters": chosen,
            "replicas": {names.get(c, c): n for c, n in result.replicas.items()},
            "price_per_hour": result.decision.price_per_hour,
            "egress_per_hour": result.decision.egress_per_hour,
        },
        runner_ups=decision["runner_ups"],
        inputs={
            "generation": workload.generation,
            "desired": result.desired,
            "requests": {
                "cpu_millis": workload.cpu_millis,
                "memory_mib": workload.memory_mib,
                "gpus": workload.gpus,
            },
            "previous": {names.get(c, c): n for c, n in result.previous.items()},
            "changes": {names.get(c, c): n for c, n in result.changes().items()},
            "avoid": [names.get(c, c) for c in decided.failure.avoid],
            "outcome": decision["outcome"],
            "strategy": decision["strategy"],
            "mode": decision["mode"],
            "score_meaning": decision["score_meaning"],
            "filtered": decision["filtered"],
            "candidate_count": decision["candidate_count"],
            "unplaced": result.unplaced,
        },
        cost_per_hour=round(result.decision.price_per_hour, 6),
        policy_version=f"{workload.policy.name} v{workload.policy.version}"[:60],
        created_at=now,
    )
