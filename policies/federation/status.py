"""Status back from the members (system services of the federation loop): each placement from what
its cluster reports, then each workload from its placements, with one message a person can act on.

A placement is *failing* while its pods cannot be scheduled or cannot start (image pulls, crash
loops) or its cluster refused our objects; ``failure_count`` counts the consecutive passes and
``failing_since`` when it started. A cluster that cannot be reached marks its placements
unreachable from the first pass that failed. Failover reads these (see ``failover``).

``placements_sync`` and ``workload_statuses_save`` work on the rows of one pass
(``placements.FederationRows``); like the other loop services they act for no person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from engines.federation import Outcome
from nodeless_saas.rows_update import rows_update
from policies.federation.autoscaled import autoscaled, member_count_adopted
from policies.federation.observation import MemberReport, ObjectState, PodSummary
from policies.federation.placements import FederationRows, workload_loop_fields
from policies.models import (
    FailureBehaviour,
    Placement,
    PlacementState,
    Workload,
    WorkloadKind,
    WorkloadStatus,
)

BATCH = 500  # workloads per UPDATE statement (id, still live, then the loop's fields)
TERMINAL_PLACEMENT_STATES = (PlacementState.COMPLETED, PlacementState.FAILED)
SETTLED = (
    WorkloadStatus.RUNNING,
    WorkloadStatus.COMPLETED,
    WorkloadStatus.FAILED,
    WorkloadStatus.UNSCHEDULABLE,
)


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S UTC")


def placements_sync(rows: FederationRows, reports: Mapping[str, MemberReport], now: datetime) -> None:
    """Every placement of the pass from what its cluster reported (``reports`` by cluster id)."""
    for key, placements in rows.placements.items():
        for placement in placements:
            placement_sync(placement, rows.workloads[key], reports[str(placement.cluster_id)], now)


def placement_sync(placement: Placement, workload: Workload, report: MemberReport, now: datetime) -> None:
    """Update ``placement`` (in memory) from one look at its cluster."""
    cluster = placement.cluster.name
    if not report.reachable:
        placement.unreachable_since = placement.unreachable_since or now
        if placement.replicas and placement.state not in TERMINAL_PLACEMENT_STATES:
            placement.state = PlacementState.UNREACHABLE
            placement.reason = (
                f"{cluster} unreachable since {_clock(placement.unreachable_since)}: {report.problem}"
            )
        return
    # When its member last answered (the REST API's ``last_synced_at``): not a look that failed.
    placement.last_synced_at = now
    placement.unreachable_since = None
    if placement.state == PlacementState.UNREACHABLE:
        placement.state = PlacementState.APPLIED if placement.applied_generation else PlacementState.PENDING
    if (
        placement.replicas == 0
        or placement.state in TERMINAL_PLACEMENT_STATES
        or not placement.applied_generation
    ):
        return
    key = str(workload.pk)
    state = report.objects.get(key)
    if state is None:
        # Someone deleted our object (or a Job's TTL did): apply it again.
        placement.applied_generation = placement.applied_replicas = 0
        placement.state = PlacementState.PENDING
        placement.reason = f"our {workload.kind} was missing in {cluster}; applying it again"
        return
    placement.ready_replicas, placement.available_replicas = state.ready, state.available
    placement.succeeded, placement.failed = state.succeeded, state.failed
    if state.status != placement.member_status:
        placement.member_status = dict(state.status)
    reported = report.companion_statuses.get(key, {})
    if reported != placement.companion_statuses:
        placement.companion_statuses = dict(reported)
    if state.kind == WorkloadKind.JOB and (state.complete or state.failure):
        placement.state = PlacementState.COMPLETED if state.complete else PlacementState.FAILED
        placement.reason = "" if state.complete else f"Job failed in {cluster}: {state.failure}"
        _healthy(placement)
        return
    # A DaemonSet's pod count is the member's (one per node), as is the count of a workload its HPA
    # scales there (``autoscaled``: the placement takes it); a CronJob's pods come and go by run.
    scaled_there = autoscaled(workload)
    if scaled_there:
        member_count_adopted(placement, workload, state)
    member_counts = workload.kind == WorkloadKind.DAEMONSET or scaled_there
    wanted = state.replicas if member_counts else placement.replicas
    problem = _problem(state, report.pods.get(key), wanted)
    if problem:
        placement.failure_count += 1
        placement.failing_since = placement.failing_since or now
        placement.state = PlacementState.FAILING
        placement.reason = f"{cluster}: {problem}"
        return
    _healthy(placement)
    current = placement.applied_generation == workload.generation
    done = state.ready >= wanted and current
    if state.kind == WorkloadKind.JOB:
        done = state.available > 0 or state.succeeded > 0
    elif state.kind == WorkloadKind.CRONJOB:
        done = current  # scheduled there: its runs are reported, not waited for
    placement.state = PlacementState.RUNNING if done else PlacementState.APPLIED
    placement.reason = "" if done else f"{state.ready}/{wanted} ready in {cluster}"


def _problem(state: ObjectState, pods: PodSummary | None, replicas: int) -> str:
    if pods is None or state.ready >= replicas:
        return ""
    return pods.problem


def _healthy(placement: Placement) -> None:
    placement.failure_count = 0
    placement.failing_since = None


@dataclass(frozen=True)
class Aggregate:
    status: str
    message: str
    ready: int
    available: int
    succeeded: int
    failed: int


def _share(placements: Sequence[Placement]) -> str:
    return ", ".join(f"{p.cluster.name} {p.ready_replicas}/{p.replicas}" for p in placements if p.replicas)


def _unreachable_note(placement: Placement, workload: Workload) -> str:
    policy = workload.policy
    if policy.on_failure == FailureBehaviour.STICKY:
        then = "they stay there (sticky failure behaviour)"
    else:
        then = f"they move after the {policy.grace_period_seconds} s grace period"
    return f"{placement.reason}; {placement.replicas} replica{'s' if placement.replicas != 1 else ''} there: {then}"


def workload_status_aggregate(
    workload: Workload, placements: Sequence[Placement], outcome: Outcome | None, reason: str
) -> Aggregate:
    """The workload's status from its placements and this pass's scheduling outcome and reason."""
    live = [p for p in placements if p.replicas]
    ready = sum(p.ready_replicas for p in live)
    available = sum(p.available_replicas for p in live)
    succeeded = sum(p.succeeded for p in placements)
    failed = sum(p.failed for p in placements)

    def result(status: str, message: str) -> Aggregate:
        return Aggregate(status, message[:500], ready, available, succeeded, failed)

    if workload.deleted_at is not None:
        waiting = [p.cluster.name for p in placements if p.unreachable_since is not None]
        if waiting:
            return result(
                WorkloadStatus.DELETING, f"Waiting for {', '.join(waiting)} to be reachable to remove it."
            )
        return result(WorkloadStatus.DELETING, "Being removed from every cluster it runs in.")
    if workload.kind == WorkloadKind.JOB:
        failures = [p for p in placements if p.state == PlacementState.FAILED]
        if failures:
            return result(WorkloadStatus.FAILED, failures[0].reason)
        if live and all(p.state == PlacementState.COMPLETED for p in live):
            where = ", ".join(p.cluster.name for p in live)
            return result(WorkloadStatus.COMPLETED, f"Completed: {succeeded} pods succeeded in {where}.")
    if outcome is Outcome.UNSCHEDULABLE and not live:
        return result(WorkloadStatus.UNSCHEDULABLE, f"Cannot be placed: {reason}")
    problems = [
        _unreachable_note(p, workload) if p.state == PlacementState.UNREACHABLE else p.reason
        for p in live
        if p.state in (PlacementState.UNREACHABLE, PlacementState.FAILING)
    ]
    if outcome is Outcome.PARTIAL:
        placed = sum(p.replicas for p in live)
        problems.append(f"only {placed} of {workload.desired_replicas} replicas could be placed: {reason}")
    if problems:
        return result(
            WorkloadStatus.DEGRADED, f"{ready}/{workload.desired_replicas} ready. " + "; ".join(problems)
        )
    if workload.desired_replicas == 0:
        return result(WorkloadStatus.RUNNING, "Scaled to zero replicas.")
    pending = [
        p for p in live if p.applied_generation != workload.generation or p.applied_replicas != p.replicas
    ]
    if (
        workload.kind == WorkloadKind.JOB
        and live
        and not pending
        and all(p.state in (PlacementState.RUNNING, PlacementState.COMPLETED) for p in live)
    ):
        return result(
            WorkloadStatus.RUNNING, f"Running: {ready} active, {succeeded} succeeded ({_share(live)})."
        )
    if workload.kind in (WorkloadKind.DAEMONSET, WorkloadKind.CRONJOB):
        # No total to reach: each member's copy is ready (every daemon pod) or scheduled.
        if live and not pending and all(p.state == PlacementState.RUNNING for p in live):
            what = "daemon pods ready" if workload.kind == WorkloadKind.DAEMONSET else "runs active"
            return result(
                WorkloadStatus.RUNNING,
                f"Running in {len(live)} cluster{'s' if len(live) != 1 else ''}: {ready} {what}.",
            )
    elif live and not pending and ready >= workload.desired_replicas:
        return result(WorkloadStatus.RUNNING, f"{ready}/{workload.desired_replicas} ready: {_share(live)}.")
    if not live:
        return result(WorkloadStatus.PENDING, "Waiting for the federation loop to place it.")
    if pending:
        return result(
            WorkloadStatus.PLACED, f"Rolling out generation {workload.generation} to {_share(pending)}."
        )
    return result(
        WorkloadStatus.PLACED, f"Starting: {ready}/{workload.desired_replicas} ready ({_share(live)})."
    )


def workload_statuses_save(rows: FederationRows) -> int:
    """Write each workload's status and message from its placements and this pass's outcome; returns
    how many are not settled yet (rolling out, failing, pending), so the caller can come back soon.
    The changed rows are written by one UPDATE per ``BATCH`` rows (``_update_rows``)."""
    unsettled = 0
    changed: list[tuple[Workload, dict[str, object]]] = []
    for key, workload in rows.workloads.items():
        outcome, reason = rows.outcomes.get(key, (None, ""))
        result = workload_status_aggregate(workload, rows.placements[key], outcome, reason)
        workload.status, workload.status_message = result.status, result.message
        workload.ready_replicas, workload.available_replicas = result.ready, result.available
        workload.succeeded, workload.failed = result.succeeded, result.failed
        if result.status not in SETTLED:
            unsettled += 1
        after = workload_loop_fields(workload)
        if after != rows.original[key]:
            changed.append((workload, after))
            rows.original[key] = after
    for start in range(0, len(changed), BATCH):
        _update_rows(changed[start : start + BATCH])
    return unsettled


def _update_rows(changed: Sequence[tuple[Workload, dict[str, object]]]) -> None:
    """The changed loop fields of each workload (``nodeless_saas.rows_update``), only if the API
    did not delete it meanwhile: a workload read live is written only while it is still live, so
    "deleting" is never overwritten."""
    names = list(changed[0][1])
    rows_update(
        Workload,
        names,
        [(workload.pk, [after[name] for name in names]) for workload, after in changed],
        null_as_read=("deleted_at", [workload.deleted_at is None for workload, _ in changed]),
    )
