"""Reconcile passes of nodeless clusters, one cluster or a batch of them: which clusters get a pass,
and the lease that lets one pass per cluster run at a time, whatever the number of workers (a worker
that dies keeps it only until it expires). The pass itself, step by step, is `cluster_pass`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.utils import timezone

from clusters.models import Cluster, ClusterMode, ClusterStatus
from workers.leases import HeldLease, release_many, try_acquire_many
from workers.provisioning.batch import side_by_side
from workers.provisioning.budget import ApiBudgetSpent
from workers.provisioning.cluster_pass import LaunchDispatch, run_pass

# Re-exported: what `reconcile_cluster` and `reconcile_batch` answer, which callers name from here.
from workers.provisioning.cluster_pass import ReconcileReport as ReconcileReport
from workers.provisioning.context import SharedReads, build_context

logger = logging.getLogger(__name__)


def _lease_ttl() -> timedelta:
    # Long enough for a pass at 50,000 pods, short enough that a dead worker's cluster is not
    # orphaned for long (the crash tests shorten it).
    return timedelta(seconds=settings.NODELESS_LEASE_SECONDS)


def lease_name(cluster_id: object) -> str:
    return f"provisioning:{cluster_id}"


def reconcile_cluster(
    cluster_id: str, *, lease_ttl: timedelta | None = None, dispatch: LaunchDispatch | None = None
) -> ReconcileReport:
    """One pass. With `dispatch`, launches are handed off by row id (the Celery task enqueues one
    launch task per row, like Karpenter's NodeClaim lifecycle controller) so the pass itself stays
    short; without it, they are made inline before the pass returns."""
    return reconcile_batch([cluster_id], lease_ttl=lease_ttl, dispatch=dispatch)[0]


def reconcile_batch(
    cluster_ids: Sequence[str],
    *,
    lease_ttl: timedelta | None = None,
    dispatch: LaunchDispatch | None = None,
    on_done: Callable[[list[ReconcileReport]], None] = lambda reports: None,
) -> list[ReconcileReport]:
    """One pass over each of `cluster_ids` (answered in their order), with their fixed costs paid once
    for the batch: one query reads the clusters (those not in nodeless service are `skipped`), one
    statement takes their leases (a cluster another worker holds is `busy` and left alone), one query
    their policies (`SharedReads`). Then each cluster's pass runs as it would alone, side by side on the
    process's pass pool (`batch.side_by_side`), its lease released as it ends; `on_done` hears of
    every cluster as its outcome is known. A batch of one runs in the calling thread."""
    ids = list(dict.fromkeys(str(cluster_id) for cluster_id in cluster_ids))
    found = {
        str(cluster.pk): cluster
        for cluster in Cluster.objects.select_related("organization", "cloud_account").filter(pk__in=ids)
    }
    reports: dict[str, ReconcileReport] = {}
    eligible = []
    for cluster_id in ids:
        cluster = found.get(cluster_id)
        if (
            cluster is None
            or cluster.mode != ClusterMode.NODELESS
            or cluster.cloud_account is None
            or cluster.status != ClusterStatus.CONNECTED  # a worker is still verifying it, or could not
        ):
            reports[cluster_id] = ReconcileReport(cluster_id, "skipped")
        else:
            eligible.append(cluster)
    leases = try_acquire_many([lease_name(c.pk) for c in eligible], ttl=lease_ttl or _lease_ttl())
    held = [
        (cluster, leases[lease_name(cluster.pk)]) for cluster in eligible if lease_name(cluster.pk) in leases
    ]
    reports.update(
        (str(c.pk), ReconcileReport(str(c.pk), "busy")) for c in eligible if lease_name(c.pk) not in leases
    )
    if reports:
        on_done(list(reports.values()))
    if held:
        try:
            shared = SharedReads.read([cluster for cluster, _ in held])
        except BaseException:
            release_many([lease for _, lease in held])
            raise
        alone = len(held) == 1
        jobs = [
            (lease, partial(_pass, cluster, lease, shared, dispatch, alone=alone)) for cluster, lease in held
        ]
        reports.update((report.cluster_id, report) for report in side_by_side(jobs, on_done))
    return [reports[cluster_id] for cluster_id in ids]


def _pass(
    cluster: Cluster, lease: HeldLease, shared: SharedReads, dispatch: LaunchDispatch | None, *, alone: bool
) -> ReconcileReport:
    started = time.perf_counter()
    try:
        report = run_pass(
            build_context(cluster, timezone.now(), shared=shared),
            renew=lease.renew,
            dispatch=dispatch,
            rows=shared.rows[str(cluster.pk)],
        )
    except ApiBudgetSpent:
        # The cluster spent its API budget mid-pass; what the pass did so far is recorded, and every
        # step is idempotent: the next pass carries on.
        report = ReconcileReport(str(cluster.pk), "throttled")
    except Exception:
        if alone:
            raise
        # In a batch, one cluster's failure is its own: the other passes go on, the next pass retries.
        logger.exception("reconcile pass of cluster %s failed", cluster.pk)
        report = ReconcileReport(str(cluster.pk), "failed")
    report.seconds = time.perf_counter() - started
    return report
