"""The federation engine's inputs, built from rows: a workload's spec, its placement policy and
where it runs now, the failure plan, and one ``Fleet`` of member snapshots.

The federation loop and the policy preview build the same inputs here, so a preview places a
workload exactly as the next pass would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from clusters.models import Cluster
from engines.federation import (
    ClusterSnapshot,
    CurrentPlacement,
    Fleet,
    Location,
    PlacementPolicy,
    Resources,
    WorkloadSpec,
)
from engines.federation import WorkloadKind as EngineKind
from engines.federation.policy import Strategy
from policies.federation.failover import FailurePlan, failure_plan
from policies.federation.snapshots import Inventory, Usage, fleet_snapshots
from policies.federation.spec import engine_policy
from policies.federation.status import TERMINAL_PLACEMENT_STATES
from policies.federation.workload_kinds import BATCH_KINDS
from policies.models import (
    FederationPolicy,
    Placement,
    PlacementState,
    Workload,
    WorkloadKind,
    WorkloadStatus,
)

# Engine policies already built in this pass, by (policy id, version): many workloads share one.
PolicyCache = dict[tuple[str, int], PlacementPolicy]


@dataclass(frozen=True)
class ScheduleInputs:
    """Everything ``engines.federation.schedule`` needs about one workload, but the fleet."""

    spec: WorkloadSpec
    policy: PlacementPolicy
    current: CurrentPlacement
    failure: FailurePlan


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
        kind=EngineKind.JOB if workload.kind in BATCH_KINDS else EngineKind.DEPLOYMENT,
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
    return Fleet(fleet_inputs(clusters, inventories, workloads, placements))


def fleet_inputs(
    clusters: Sequence[Cluster],
    inventories: Mapping[str, Inventory | None],
    workloads: Mapping[str, Workload],
    placements: Sequence[Placement],
) -> tuple[ClusterSnapshot, ...]:
    """Every member as the engine sees it: what a ``Fleet`` is built from (equal snapshots, equal
    fleets)."""
    return tuple(fleet_snapshots(clusters, inventories, usage_by_cluster(workloads, placements)))


def placement_policy(policy: FederationPolicy, cache: PolicyCache | None = None) -> PlacementPolicy:
    """The engine's form of a stored policy (built once per version when a cache is given).
    Raises PolicyError or ValueError for a stored spec the engine no longer accepts."""
    if cache is None:
        return engine_policy(policy.spec)
    key = (str(policy.pk), policy.version)
    if key not in cache:
        cache[key] = engine_policy(policy.spec)
    return cache[key]


def current_placement(workload: Workload, placements: Sequence[Placement], now: datetime) -> CurrentPlacement:
    """Where the workload runs now (``placements`` are its own; those being removed do not count)
    and for how long."""
    replicas = {
        str(p.cluster_id): p.replicas for p in placements if p.replicas and p.state != PlacementState.REMOVING
    }
    since = (now - workload.placement_changed_at).total_seconds() if workload.placement_changed_at else None
    return CurrentPlacement(replicas, since)


def needs_scheduling(workload: Workload, placements: Sequence[Placement]) -> bool:
    """Deleted workloads and finished Jobs are not placed again."""
    if workload.deleted_at is not None:
        return False
    live = [p for p in placements if p.replicas]
    return not (live and all(p.state in TERMINAL_PLACEMENT_STATES for p in live))


def steady(workload: Workload, placements: Sequence[Placement]) -> bool:
    """Placed at its generation and starting or running everywhere it is placed, with no cluster it
    is kept away from: nothing but a change of the fleet can move it (passes back to back decide
    only the others, ``workers.federation.scheduling``)."""
    return (
        workload.deleted_at is None
        and workload.scheduled_generation == workload.generation
        and workload.status in (WorkloadStatus.PLACED, WorkloadStatus.RUNNING)
        and not workload.avoid_clusters
        and bool(placements)
        and all(
            p.replicas and p.state in (PlacementState.APPLIED, PlacementState.RUNNING) for p in placements
        )
    )


def for_kind(
    workload: Workload, spec: WorkloadSpec, policy: PlacementPolicy
) -> tuple[WorkloadSpec, PlacementPolicy]:
    """A DaemonSet is copied to every cluster the policy selects (one copy each: its member runs a
    pod per node), whatever the policy's division; to each pinned cluster under a pinned policy."""
    if workload.kind != WorkloadKind.DAEMONSET:
        return spec, policy
    if policy.strategy is Strategy.PINNED:
        return replace(spec, replicas=len(policy.pinned)), policy  # the even split: one each
    return replace(spec, replicas=1), replace(policy, strategy=Strategy.DUPLICATE, burst=None)


def schedule_inputs(
    workload: Workload, placements: Sequence[Placement], now: datetime, cache: PolicyCache
) -> ScheduleInputs:
    """One workload's inputs for a steady-mode decision (``placements`` are its own)."""
    spec, policy = for_kind(workload, workload_spec(workload), placement_policy(workload.policy, cache))
    return ScheduleInputs(
        spec=spec,
        policy=policy,
        current=current_placement(workload, placements, now),
        failure=failure_plan(workload, placements, now),
    )
