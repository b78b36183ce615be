"""Placements, written by the federation loop: system services, not tenant services.

A pass works on one organization's rows, loaded once by organization id
(``federation_rows_by_organization_id``) into ``FederationRows``; the services here change those
rows in memory as the pass decides and acts, and write what changed in a few statements. They act
for no person, so they take no actor and write no audit record (the tenant services in
``policies.federation.services`` do both).

1. ``placement_result_record``: an engine result becomes placement rows (new, resized, or zero
   replicas = to be removed) and, when worth telling, a Decision row (``decisions``).
2. ``placements_save``: new placements and decisions created, changed placements updated.
3. ``placement_outcomes_record``: what applying to the members did; removed placements (and
   deleted workloads with none left) are forgotten.

Every field the loop owns is written only when it differs from what was read or last written,
one UPDATE per distinct change: many placements change alike (applied at generation 2 with 3
replicas...), which is far cheaper than Django's bulk_update of CASE expressions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.db import transaction

from clusters.models import Cluster
from engines.federation import Outcome, ScheduleResult, webster
from policies.federation.decisions import decision_row
from policies.federation.failover import FailurePlan
from policies.federation.workload_kinds import BATCH_KINDS
from policies.models import Decision, FederationPolicy, Placement, PlacementState, Workload

# A placement's sync time (when the loop last looked at its member) is written when its row is
# written anyway, else at most this often: the REST API's ``last_synced_at`` is that recent.
SYNC_STAMP_SECONDS = 15

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
    "member_status",
    "companion_statuses",
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


@dataclass
class FederationRows:
    """One organization's clusters, workloads (oldest first) and placements (by workload id) as a
    federation pass read them, and what the pass has changed so far."""

    organization_id: str
    clusters: dict[str, Cluster]
    workloads: dict[str, Workload]
    placements: dict[str, list[Placement]]
    created: list[Placement] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    outcomes: dict[str, tuple[Outcome, str]] = field(default_factory=dict)  # engine outcome, reason
    original: dict[str, dict[str, object]] = field(default_factory=dict)  # workload id → loop fields
    written: dict[str, tuple[object, ...]] = field(default_factory=dict)  # placement id → fields
    stamped: dict[str, datetime | None] = field(default_factory=dict)  # placement id → stored sync time

    def all_placements(self) -> list[Placement]:
        return [placement for placements in self.placements.values() for placement in placements]

    @cached_property
    def cluster_names(self) -> dict[str, str]:
        return {cluster_id: cluster.name for cluster_id, cluster in self.clusters.items()}


@dataclass(frozen=True)
class ActionOutcome:
    """What applying (or removing) one placement's objects in its member did."""

    placement_id: str
    remove: bool  # removing the objects, not applying them
    done: bool
    unreachable: bool = False  # the cluster could not be reached (else: it refused)
    message: str = ""
    # An apply that was done: the (generation, replicas) it brought the member to (None: the
    # workload's generation and the placement's replicas as they are when it is recorded).
    applied: tuple[int, int] | None = None


def placement_fields(placement: Placement) -> tuple[object, ...]:
    return tuple(getattr(placement, name) for name in _PLACEMENT_FIELDS)


def workload_loop_fields(workload: Workload) -> dict[str, object]:
    """The fields of a workload that only the loop writes."""
    return {name: getattr(workload, name) for name in _WORKLOAD_FIELDS}


def _clusters(organization_id: str) -> dict[str, Cluster]:
    clusters = Cluster.objects.filter(organization_id=organization_id)
    return {str(c.pk): c for c in clusters.select_related("organization", "cloud_account").order_by("name")}


def _policies_attach(organization_id: str, workloads: Iterable[Workload]) -> None:
    """Each workload's policy is one read (not a copy of its row per workload)."""
    policies = {p.pk: p for p in FederationPolicy.objects.filter(organization_id=organization_id)}
    for workload in workloads:
        if workload.policy_id in policies:  # else created since: read when used
            workload.policy = policies[workload.policy_id]


def _placements_attach(rows: FederationRows, placements: Iterable[Placement]) -> None:
    """Each placement's cluster is one of the rows' (not a copy of its row per placement: at 1,500
    placements, the copies were most of what a pass read)."""
    for placement in placements:
        cluster = rows.clusters.get(str(placement.cluster_id))
        if cluster is not None:  # else connected since: read when used
            placement.cluster = cluster
        rows.placements.setdefault(str(placement.workload_id), []).append(placement)
        rows.written[str(placement.pk)] = placement_fields(placement)
        rows.stamped[str(placement.pk)] = placement.last_synced_at


def federation_rows_by_organization_id(organization_id: str) -> FederationRows:
    """System entry point of a federation pass: the organization's rows, by its id."""
    workloads = Workload.objects.filter(organization_id=organization_id)
    rows = FederationRows(
        organization_id,
        clusters=_clusters(organization_id),
        workloads={str(w.pk): w for w in workloads.order_by("created_at", "pk")},
        placements={},
    )
    _policies_attach(organization_id, rows.workloads.values())
    rows.original = {key: workload_loop_fields(workload) for key, workload in rows.workloads.items()}
    rows.placements = {key: [] for key in rows.workloads}
    _placements_attach(rows, Placement.objects.filter(organization_id=organization_id))
    return rows


def _signature(workload: Workload) -> tuple[object, ...]:
    """What changes when the API changes a workload (submitted, updated: a new generation, deleted)."""
    return (workload.generation, workload.updated_at, workload.deleted_at)


def federation_rows_refresh(rows: FederationRows) -> FederationRows:
    """The rows a pass left, brought up to date for the next pass of the same task, as
    ``federation_rows_by_organization_id`` would read them, in a fraction of the reads (at 1,000
    workloads, loading was a third of a pass).

    Clusters and policies are read again (a few rows each: health, labels and limits change
    outside the loop); a workload only where the API changed it (its ``_signature``), and every
    workload submitted since, found by id (not by time, which a slow transaction can put before the
    last load). Placements are the loop's own rows, written only by the pass holding the lease,
    so they stay as the pass left them - but for those of clusters disconnected since (deleted
    with their cluster) and those of workloads new to the rows."""
    organization_id = rows.organization_id
    rows.clusters = _clusters(organization_id)
    rows.__dict__.pop("cluster_names", None)  # a cached_property of the clusters read before
    listed = Workload.objects.filter(organization_id=organization_id).values_list(
        "pk", "generation", "updated_at", "deleted_at"
    )
    signatures = {str(pk): (generation, updated, deleted) for pk, generation, updated, deleted in listed}
    stale = [
        key
        for key, signature in signatures.items()
        if key not in rows.workloads or _signature(rows.workloads[key]) != signature
    ]
    fresh = {str(w.pk): w for w in Workload.objects.filter(pk__in=stale)} if stale else {}
    new = [key for key in fresh if key not in rows.workloads]
    kept = {key: fresh.get(key, workload) for key, workload in rows.workloads.items() if key in signatures}
    kept.update((key, fresh[key]) for key in new)
    rows.workloads = dict(sorted(kept.items(), key=lambda item: (item[1].created_at, item[1].pk)))
    _policies_attach(organization_id, rows.workloads.values())
    rows.original = {key: rows.original[key] for key in rows.workloads if key not in fresh}
    rows.original.update((key, workload_loop_fields(workload)) for key, workload in fresh.items())
    # By the clusters' own ids: a str() of each placement's cluster id, twice a pass for every
    # placement, was a tenth of a pass at rest.
    clusters = {cluster.pk: cluster for cluster in rows.clusters.values()}
    placements: dict[str, list[Placement]] = {}
    for key in rows.workloads:
        placements[key] = []
        for placement in rows.placements.get(key, ()):
            cluster = clusters.get(placement.cluster_id)
            if cluster is not None:
                placement.cluster = cluster
                placements[key].append(placement)
    rows.placements = placements
    live = {str(p.pk) for p in rows.all_placements()}
    rows.written = {key: fields for key, fields in rows.written.items() if key in live}
    rows.stamped = {key: stamp for key, stamp in rows.stamped.items() if key in live}
    if new:
        _placements_attach(rows, Placement.objects.filter(workload_id__in=new))
    rows.outcomes, rows.decisions = {}, []  # the pass's own: written by it (``placements_save``)
    return rows


def placements_withdraw(workload: Workload, placements: Sequence[Placement]) -> None:
    """A deleted workload's placements: zero replicas, to be removed from their clusters."""
    for placement in placements:
        if placement.replicas or placement.state != PlacementState.REMOVING:
            placement.replicas, placement.state = 0, PlacementState.REMOVING
            placement.reason = f"{placement.cluster.name}: the workload was deleted; removing it"


def workload_policy_rejected(rows: FederationRows, workload: Workload, error: Exception) -> None:
    """A stored policy the engine no longer accepts: say so, keep what runs."""
    rows.outcomes[str(workload.pk)] = (
        Outcome.UNSCHEDULABLE,
        f"policy {workload.policy.name} cannot be used: {error}",
    )


def placement_result_record(
    rows: FederationRows, workload: Workload, result: ScheduleResult, failure: FailurePlan, now: datetime
) -> bool:
    """The engine's steady-mode answer for one workload, in the rows (written by ``placements_save``);
    whether it changed a placement."""
    key = str(workload.pk)
    placements = rows.placements[key]
    created, updated = _follow(workload, result, failure, placements, rows.clusters, now)
    placements.extend(created)
    rows.created.extend(created)
    changed = bool(created or updated)
    decision = decision_row(workload, result, failure, rows.cluster_names, now, changed=changed)
    if decision is not None:
        rows.decisions.append(decision)
    if changed:
        workload.placement_changed_at = now
    workload.avoid_clusters = failure.remembered
    workload.scheduled_generation = workload.generation
    rows.outcomes[key] = (result.outcome, result.decision.reason)
    return changed


def _completions(workload: Workload, replicas: Mapping[str, int]) -> dict[str, int | None]:
    """A Job's (or CronJob's) completions divided like its parallelism (Webster, by each cluster's share)."""
    if workload.kind not in BATCH_KINDS or workload.completions is None or not replicas:
        return dict.fromkeys(replicas)
    clusters = sorted(replicas)
    split = webster(workload.completions, [replicas[c] for c in clusters], list(range(len(clusters))))
    return {cluster: max(1, count) for cluster, count in zip(clusters, split, strict=True)}


def _new_placement(
    workload: Workload, cluster: Cluster, replicas: int, completions: int | None, now: datetime
) -> Placement:
    placement = Placement(organization_id=workload.organization_id, workload=workload, cluster=cluster)
    placement.replicas, placement.completions = replicas, completions
    placement.state, placement.created_at = PlacementState.PENDING, now
    return placement


def _follow(
    workload: Workload,
    result: ScheduleResult,
    failure: FailurePlan,
    placements: Sequence[Placement],
    clusters: Mapping[str, Cluster],
    now: datetime,
) -> tuple[list[Placement], list[Placement]]:
    """Placement rows that follow the engine's answer: (created, updated), in memory."""
    created: list[Placement] = []
    updated: list[Placement] = []
    completions = _completions(workload, result.replicas)
    by_cluster = {str(p.cluster_id): p for p in placements}
    for cluster_id, replicas in result.replicas.items():
        placement = by_cluster.get(cluster_id)
        if placement is None:
            created.append(
                _new_placement(workload, clusters[cluster_id], replicas, completions[cluster_id], now)
            )
        elif placement.replicas != replicas or placement.completions != completions[cluster_id]:
            placement.replicas, placement.completions = replicas, completions[cluster_id]
            if placement.state == PlacementState.REMOVING:
                placement.state = (
                    PlacementState.APPLIED if placement.applied_generation else PlacementState.PENDING
                )
            updated.append(placement)
    reason = "moved by a failover decision" if failure.given_up else "no longer placed here"
    for cluster_id, placement in by_cluster.items():
        if cluster_id not in result.replicas and placement.replicas:
            placement.replicas = 0
            placement.state = PlacementState.REMOVING
            placement.reason = f"{placement.cluster.name}: {reason}; removing our objects"
            updated.append(placement)
    return created, updated


def placements_save(rows: FederationRows, now: datetime) -> None:
    """Write what the pass decided: new placements and decisions, changed placements, and the sync
    time of every placement synced at ``now``."""
    with transaction.atomic():
        Placement.objects.bulk_create(rows.created)
        for placement in rows.created:
            rows.written[str(placement.pk)] = placement_fields(placement)
        rows.created = []
        _write_changed(rows, rows.all_placements(), now)
        # One statement for the sync time of the placements whose stored one is older than
        # SYNC_STAMP_SECONDS: rewriting every placement's row each pass was most of what a settled
        # pass wrote (1,500 rows every couple of seconds at 1,000 workloads).
        stale = now - timedelta(seconds=SYNC_STAMP_SECONDS)
        synced = [
            p.pk
            for p in rows.all_placements()
            if p.last_synced_at == now and _older(rows.stamped.get(str(p.pk)), stale)
        ]
        Placement.objects.filter(pk__in=synced).update(last_synced_at=now)
        for pk in synced:
            rows.stamped[str(pk)] = now
        Decision.objects.bulk_create(rows.decisions)


def _older(stamp: datetime | None, than: datetime) -> bool:
    return stamp is None or stamp < than


def _write_changed(rows: FederationRows, placements: Iterable[Placement], synced_at: datetime) -> None:
    """Write the placements whose fields changed since they were read or last written, one UPDATE
    per distinct change (with their sync time, when this pass synced them)."""
    groups: dict[tuple[tuple[str, object], ...], list[str]] = {}
    values: dict[tuple[tuple[str, object], ...], dict[str, object]] = {}
    for placement in placements:
        key = str(placement.pk)
        fields = placement_fields(placement)
        before = rows.written.get(key)
        if before is None or fields == before:
            continue
        changed = {
            name: value
            for name, value, old in zip(_PLACEMENT_FIELDS, fields, before, strict=True)
            if value != old
        }
        if placement.last_synced_at == synced_at and rows.stamped.get(key) != synced_at:
            changed["last_synced_at"] = synced_at
            rows.stamped[key] = synced_at
        # A member's status is a mapping: grouped by its JSON text, written as the mapping.
        change = tuple(
            (name, json.dumps(value, sort_keys=True) if isinstance(value, dict) else value)
            for name, value in changed.items()
        )
        groups.setdefault(change, []).append(key)
        values[change] = changed
        rows.written[key] = fields
    for change, ids in groups.items():
        Placement.objects.filter(pk__in=ids).update(**values[change])


def _record_outcome(placement: Placement, workload: Workload, outcome: ActionOutcome, now: datetime) -> None:
    if outcome.done:
        generation, replicas = outcome.applied or (workload.generation, placement.replicas)
        placement.applied_generation, placement.applied_replicas = generation, replicas
        if placement.state in (PlacementState.PENDING, PlacementState.UNREACHABLE):
            placement.state = PlacementState.APPLIED
            placement.reason = ""
    elif outcome.unreachable:
        placement.unreachable_since = placement.unreachable_since or now
        placement.reason = f"{placement.cluster.name} unreachable: {outcome.message}"
        if not outcome.remove:
            placement.state = PlacementState.UNREACHABLE
    else:
        placement.failure_count += 1
        placement.failing_since = placement.failing_since or now
        placement.reason = f"{placement.cluster.name}: {outcome.message}"[:500]
        if not outcome.remove:
            placement.state = PlacementState.FAILING


def placement_outcomes_record(
    rows: FederationRows, outcomes: Sequence[ActionOutcome], now: datetime
) -> tuple[int, int, int]:
    """Record what applying and removing did (placements removed from their cluster are deleted, and
    so is a deleted workload with no placement left); returns (applied, removed, errors).

    ``outcomes`` may be of actions an earlier pass started (``workers.federation.runner``): a
    placement gone since (its cluster was disconnected) is skipped, and one removed from its
    member that this pass placed there again is to be applied again, not deleted."""
    by_id = {str(p.pk): p for p in rows.all_placements()}
    applied = removed = errors = 0
    gone: dict[str, Placement] = {}
    for outcome in outcomes:
        placement = by_id.get(outcome.placement_id)
        if placement is None:
            continue
        if outcome.done and outcome.remove:
            removed += 1
            if placement.replicas:
                placement.applied_generation = placement.applied_replicas = 0
                placement.state = PlacementState.PENDING
            else:
                gone[outcome.placement_id] = placement
            continue
        _record_outcome(placement, rows.workloads[str(placement.workload_id)], outcome, now)
        if outcome.done:
            applied += 1
        else:
            errors += 1
    with transaction.atomic():
        Placement.objects.filter(pk__in=[p.pk for p in gone.values()]).delete()
        _write_changed(rows, [p for key, p in by_id.items() if key not in gone], now)
        for placement in gone.values():
            rows.placements[str(placement.workload_id)].remove(placement)
        finished = [key for key, w in rows.workloads.items() if w.deleted_at and not rows.placements[key]]
        Workload.objects.filter(pk__in=finished, deleted_at__isnull=False).delete()
        for key in finished:
            del rows.workloads[key]
    return applied, removed, errors
