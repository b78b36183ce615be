"""One pass of the federation loop for one organization: observe → sync → decide → act → report.

1. Take the organization's lease (``federation:<org id>``); if another worker holds it, do nothing.
2. Observe every member cluster once (nodes, other pods' requests, our objects and pods).
3. Sync each placement from what its cluster reports (status back, unreachable, failing).
4. Decide every active workload with the engine against one fleet (``scheduling``), honouring
   the failure behaviour (``failover``); deleted workloads lose all their placements.
5. Write placements and Decision rows, then act: apply what changed, remove what is no longer
   placed (on clusters that answer; an unreachable cluster's leftovers are removed when it is
   back, so no duplicate keeps running), at most ``MAX_ACTIONS`` per pass.
6. Write each workload's status and message, and report what is still in flight.

Every step is idempotent: a pass that dies half-way leaves rows the next pass reconciles.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from clusters.models import Cluster
from engines.federation import Outcome, PlacementPolicy, PolicyError
from policies.federation.services import workload_companions
from policies.models import Decision, Placement, PlacementState, Workload, WorkloadStatus
from workers.federation import apply, scheduling
from workers.federation.observe import MemberObservation, observe_members
from workers.federation.status import TERMINAL_PLACEMENT_STATES, aggregate, sync_placement
from workers.leases import HeldLease, release, try_acquire

LEASE_TTL = timedelta(seconds=120)
MAX_ACTIONS = 2000
SETTLED = (
    WorkloadStatus.RUNNING,
    WorkloadStatus.COMPLETED,
    WorkloadStatus.FAILED,
    WorkloadStatus.UNSCHEDULABLE,
)
_PLACEMENT_FIELDS = (
    "replicas",
    "completions",
    "state",
    "applied_generation",
    "applied_replicas",
    "ready_replicas",
    "available_replicas",
    "succeeded",
    "failed",
    "reason",
    "failure_count",
    "failing_since",
    "unreachable_since",
)
_WORKLOAD_FIELDS = (
    "status",
    "status_message",
    "ready_replicas",
    "available_replicas",
    "succeeded",
    "failed",
    "scheduled_generation",
    "placement_changed_at",
    "avoid_clusters",
)


@dataclass(frozen=True)
class PassReport:
    organization_id: str
    clusters: int = 0
    reachable: int = 0
    workloads: int = 0
    decisions: int = 0
    applied: int = 0
    removed: int = 0
    errors: int = 0
    unsettled: int = 0
    seconds: float = 0.0


def lease_name(organization_id: str) -> str:
    return f"federation:{organization_id}"


def run_pass(organization_id: str, *, now: datetime | None = None) -> PassReport | None:
    """One bounded pass; None when another worker holds the organization's lease."""
    lease = try_acquire(lease_name(organization_id), ttl=LEASE_TTL)
    if lease is None:
        return None
    try:
        return _Pass(organization_id, lease, now or timezone.now()).run()
    finally:
        release(lease)


class _Pass:
    def __init__(self, organization_id: str, lease: HeldLease, now: datetime) -> None:
        self.organization_id, self.lease, self.now = organization_id, lease, now
        self.started = time.perf_counter()
        self.clusters: dict[str, Cluster] = {}
        self.workloads: dict[str, Workload] = {}
        self.placements: dict[str, list[Placement]] = {}
        self.outcomes: dict[str, tuple[Outcome, str]] = {}
        self.decisions: list[Decision] = []
        self.observations: dict[str, MemberObservation] = {}
        self.original: dict[str, dict[str, object]] = {}
        self.written: dict[str, tuple[object, ...]] = {}  # placement id → fields as last written

    def run(self) -> PassReport:
        self._load()
        if not self.workloads:
            return PassReport(self.organization_id, clusters=len(self.clusters))
        self.observations = observe_members(list(self.clusters.values()), set(self.workloads))
        try:
            for placement in self._all_placements():
                observation = self.observations[str(placement.cluster_id)]
                sync_placement(placement, self.workloads[str(placement.workload_id)], observation, self.now)
            self.lease.renew()
            created = self._decide()
            self._save(created)
            self.lease.renew()
            applied, removed, errors = self._act()
            unsettled = self._write_status()
        finally:
            for observation in self.observations.values():
                if observation.api is not None:
                    observation.api.close()
        return PassReport(
            self.organization_id,
            clusters=len(self.clusters),
            reachable=sum(1 for o in self.observations.values() if o.reachable),
            workloads=len(self.workloads),
            decisions=len(self.decisions),
            applied=applied,
            removed=removed,
            errors=errors,
            unsettled=unsettled,
            seconds=round(time.perf_counter() - self.started, 3),
        )

    def _load(self) -> None:
        clusters = Cluster.objects.filter(organization_id=self.organization_id)
        self.clusters = {
            str(c.pk): c for c in clusters.select_related("organization", "cloud_account").order_by("name")
        }
        workloads = Workload.objects.filter(organization_id=self.organization_id).select_related("policy")
        self.workloads = {str(w.pk): w for w in workloads.order_by("created_at", "pk")}
        self.original = {key: _loop_fields(workload) for key, workload in self.workloads.items()}
        self.placements = {key: [] for key in self.workloads}
        placements = Placement.objects.filter(organization_id=self.organization_id).select_related("cluster")
        for placement in placements:
            self.placements.setdefault(str(placement.workload_id), []).append(placement)
            self.written[str(placement.pk)] = _placement_fields(placement)

    def _all_placements(self) -> list[Placement]:
        return [placement for placements in self.placements.values() for placement in placements]

    def _decide(self) -> list[Placement]:
        inventories = {key: observation.inventory for key, observation in self.observations.items()}
        fleet = scheduling.build_fleet(
            list(self.clusters.values()), inventories, self.workloads, self._all_placements()
        )
        policies: dict[tuple[str, int], PlacementPolicy] = {}
        names = {key: cluster.name for key, cluster in self.clusters.items()}
        created: list[Placement] = []
        for key, workload in self.workloads.items():
            placements = self.placements[key]
            if workload.deleted_at is not None:
                for placement in placements:
                    if placement.replicas or placement.state != PlacementState.REMOVING:
                        placement.replicas, placement.state = 0, PlacementState.REMOVING
                        placement.reason = f"{placement.cluster.name}: the workload was deleted; removing it"
                continue
            if not scheduling.needs_scheduling(workload, placements):
                continue
            try:
                decided = scheduling.decide(workload, placements, fleet, policies, self.now)
            except (PolicyError, ValueError, KeyError) as error:
                # A stored policy the engine no longer accepts: say so, keep what runs.
                self.outcomes[key] = (
                    Outcome.UNSCHEDULABLE,
                    f"policy {workload.policy.name} cannot be used: {error}",
                )
                continue
            fleet = fleet.charge(decided.result.changes(), scheduling.workload_spec(workload).requests)
            scheduling.place(decided, placements, self.clusters, self.now)
            placements.extend(decided.created)
            created.extend(decided.created)
            decision = scheduling.decision_row(decided, names, workload.status_message, self.now)
            if decision is not None:
                self.decisions.append(decision)
            if decided.changed:
                workload.placement_changed_at = self.now
            workload.avoid_clusters = decided.failure.remembered
            workload.scheduled_generation = workload.generation
            self.outcomes[key] = (decided.result.outcome, decided.result.decision.reason)
        return created

    def _save(self, created: Sequence[Placement]) -> None:
        with transaction.atomic():
            Placement.objects.bulk_create(created)
            for placement in created:
                self.written[str(placement.pk)] = _placement_fields(placement)
            self._write_placements(self._all_placements())
            synced = [p.pk for p in self._all_placements() if p.last_synced_at == self.now]
            # One statement for the timestamp every synced placement gets, each pass.
            Placement.objects.filter(pk__in=synced).update(last_synced_at=self.now)
            Decision.objects.bulk_create(self.decisions)

    def _write_placements(self, placements: Sequence[Placement]) -> None:
        """Write the placements whose fields changed since they were read or last written, one
        UPDATE per distinct change (many placements change alike: applied at generation 2 with
        3 replicas...); far cheaper than Django's bulk_update of CASE expressions."""
        groups: dict[tuple[tuple[str, object], ...], list[str]] = {}
        for placement in placements:
            key = str(placement.pk)
            now = _placement_fields(placement)
            before = self.written.get(key)
            if before is None or now == before:
                continue
            change = tuple(
                (field, value)
                for field, value, old in zip(_PLACEMENT_FIELDS, now, before, strict=True)
                if value != old
            )
            groups.setdefault(change, []).append(key)
            self.written[key] = now
        for change, ids in groups.items():
            Placement.objects.filter(pk__in=ids).update(**dict(change))

    def _actions(self) -> list[apply.Action]:
        actions: list[apply.Action] = []
        for key, workload in self.workloads.items():
            companions = None
            for placement in self.placements[key]:
                if not self.observations[str(placement.cluster_id)].reachable or len(actions) >= MAX_ACTIONS:
                    continue
                if placement.replicas == 0:
                    actions.append(apply.remove_action(workload, placement))
                elif placement.state not in TERMINAL_PLACEMENT_STATES and (
                    placement.applied_generation != workload.generation
                    or placement.applied_replicas != placement.replicas
                ):
                    if companions is None:
                        companions = workload_companions(workload)
                    actions.append(apply.apply_action(workload, placement, companions))
        return actions

    def _act(self) -> tuple[int, int, int]:
        actions = self._actions()
        members = {key: observation.api for key, observation in self.observations.items()}
        outcomes = apply.execute(members, actions)
        by_id = {str(p.pk): p for p in self._all_placements()}
        applied = removed = errors = 0
        gone: dict[str, Placement] = {}
        for action in actions:
            outcome, placement = outcomes[action.placement_id], by_id[action.placement_id]
            workload = self.workloads[str(placement.workload_id)]
            if outcome.done and action.remove:
                gone[action.placement_id] = placement
                removed += 1
            elif outcome.done:
                placement.applied_generation, placement.applied_replicas = (
                    workload.generation,
                    placement.replicas,
                )
                if placement.state in (PlacementState.PENDING, PlacementState.UNREACHABLE):
                    placement.state = PlacementState.APPLIED
                    placement.reason = ""
                applied += 1
            elif outcome.unreachable:
                placement.unreachable_since = placement.unreachable_since or self.now
                placement.reason = f"{placement.cluster.name} unreachable: {outcome.message}"
                if not action.remove:
                    placement.state = PlacementState.UNREACHABLE
                errors += 1
            else:
                placement.failure_count += 1
                placement.failing_since = placement.failing_since or self.now
                placement.reason = f"{placement.cluster.name}: {outcome.message}"[:500]
                if not action.remove:
                    placement.state = PlacementState.FAILING
                errors += 1
        with transaction.atomic():
            Placement.objects.filter(pk__in=[p.pk for p in gone.values()]).delete()
            self._write_placements([p for key, p in by_id.items() if key not in gone])
            for placement in gone.values():
                self.placements[str(placement.workload_id)].remove(placement)
            finished = [key for key, w in self.workloads.items() if w.deleted_at and not self.placements[key]]
            Workload.objects.filter(pk__in=finished, deleted_at__isnull=False).delete()
            for key in finished:
                del self.workloads[key]
        return applied, removed, errors

    def _write_status(self) -> int:
        unsettled = 0
        for key, workload in self.workloads.items():
            outcome, reason = self.outcomes.get(key, (None, ""))
            result = aggregate(workload, self.placements[key], outcome, reason)
            workload.status, workload.status_message = result.status, result.message
            workload.ready_replicas, workload.available_replicas = result.ready, result.available
            workload.succeeded, workload.failed = result.succeeded, result.failed
            if result.status not in SETTLED:
                unsettled += 1
            after = _loop_fields(workload)
            if after != self.original[key]:
                # Only if the API did not delete it meanwhile: never overwrite "deleting".
                Workload.objects.filter(
                    pk=workload.pk, deleted_at__isnull=workload.deleted_at is None
                ).update(**after)
        return unsettled


def _placement_fields(placement: Placement) -> tuple[object, ...]:
    return tuple(getattr(placement, field) for field in _PLACEMENT_FIELDS)


def _loop_fields(workload: Workload) -> dict[str, object]:
    """The fields of a workload that only the loop writes."""
    return {field: getattr(workload, field) for field in _WORKLOAD_FIELDS}
