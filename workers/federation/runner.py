"""One pass of the federation loop for one organization: observe → sync → decide → act → report.

1. Take the organization's lease (``federation:<org id>``); if another worker holds it, do nothing.
2. Observe every member cluster once (nodes, other pods' requests, our objects and pods).
3. Sync each placement from what its cluster reports (status back, unreachable, failing).
4. Decide every active workload with the engine against one fleet (``scheduling``), honouring
   the failure behaviour (``failover``); deleted workloads lose all their placements.
5. Write placements and Decision rows, then act: apply what changed, remove what is no longer
   placed (on clusters that answer; an unreachable cluster's leftovers are removed when it is
   back, so no duplicate keeps running), at most ``apply.MAX_ACTIONS`` per pass.
6. Write each workload's status and message, and report what is still in flight.
7. Apply the stand-alone objects to the clusters their policies name (``standalone``).
8. Give the Kubernetes endpoint's objects their status back (``policies.kubeapi.status_back``),
   from the rows as this pass left them, with what members refused as a ``FullyApplied``
   condition and events (``.propagation``).

The rows are the policies app's: they are loaded, changed and written through its loop services
(``policies.federation.placements`` and ``.status``); this module observes, decides and acts.
Every step is idempotent: a pass that dies half-way leaves rows the next pass reconciles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from policies.federation.placements import (
    FederationRows,
    federation_rows_by_organization_id,
    placement_outcomes_record,
    placements_save,
)
from policies.federation.status import TERMINAL_PLACEMENT_STATES, placements_sync, workload_statuses_save
from policies.kubeapi.status_back import statuses_sync
from workers.federation import apply, scheduling
from workers.federation.observe import MemberObservation, observe_members
from workers.federation.standalone import run_standalone
from workers.leases import HeldLease, release, try_acquire

LEASE_TTL = timedelta(seconds=120)


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
        rows = federation_rows_by_organization_id(organization_id)
        report = _run(rows, lease, now or timezone.now())
        # Stand-alone objects to the clusters their policies name (policies.kubeapi.standalone).
        run_standalone(organization_id)
        # Status back to the Kubernetes endpoint's objects (and deletions the members finished).
        statuses_sync(organization_id, rows)
        return report
    finally:
        release(lease)


def _run(rows: FederationRows, lease: HeldLease, now: datetime) -> PassReport:
    started = time.perf_counter()
    organization_id = rows.organization_id
    if not rows.workloads:
        return PassReport(organization_id, clusters=len(rows.clusters))
    # Members' clients are kept per process while their credentials hold (clusters.kube.access),
    # so a pass neither builds nor closes them.
    kinds = {str(workload.kind) for workload in rows.workloads.values()}
    observations = observe_members(list(rows.clusters.values()), set(rows.workloads), kinds, _applied(rows))
    placements_sync(rows, observations, now)
    lease.renew()
    inventories = {key: observation.inventory for key, observation in observations.items()}
    scheduling.decide_all(rows, inventories, now)
    placements_save(rows, now)
    lease.renew()
    applied, removed, errors = _act(rows, observations, now)
    unsettled = workload_statuses_save(rows)
    return PassReport(
        organization_id,
        clusters=len(rows.clusters),
        reachable=sum(1 for o in observations.values() if o.reachable),
        workloads=len(rows.workloads),
        decisions=len(rows.decisions),
        applied=applied,
        removed=removed,
        errors=errors,
        unsettled=unsettled,
        seconds=round(time.perf_counter() - started, 3),
    )


def _applied(rows: FederationRows) -> dict[str, set[str]]:
    """By cluster id, the workloads a pass applied there whose objects should still be there (not
    those of a finished Job, which its TTL may have removed)."""
    applied: dict[str, set[str]] = {}
    for key, placements in rows.placements.items():
        for placement in placements:
            finished = placement.state in TERMINAL_PLACEMENT_STATES
            if placement.replicas and placement.applied_generation and not finished:
                applied.setdefault(str(placement.cluster_id), set()).add(str(key))
    return applied


def _act(
    rows: FederationRows, observations: dict[str, MemberObservation], now: datetime
) -> tuple[int, int, int]:
    """Apply and remove in the members, then record what happened; (applied, removed, errors)."""
    actions = apply.actions_for(rows, observations)
    members = {key: observation.api for key, observation in observations.items()}
    return placement_outcomes_record(rows, apply.execute(members, actions), now)
