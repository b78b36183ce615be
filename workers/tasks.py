"""Every Celery entry point of the product, in one module: thin, id-based, bounded and idempotent.

Each task loads what it needs by id and calls one loop step or service; beat's schedules (all in
`settings.CELERY_BEAT_SCHEDULE`) fan out one task per cluster or organization. The rest of the
product enqueues these by name through `workers.enqueue`.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import partial
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_prerun, worker_init
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, transaction
from django.db.backends.signals import connection_created
from django.utils import timezone

from billing.services.ledger import raw_usage_prune
from billing.services.metering import meter_cluster
from billing.services.replay import replay_step
from billing.services.usage_history import usage_history_compact, usage_history_prune
from clusters import selectors as cluster_selectors
from clusters import services as cluster_services
from clusters.cloud.errors import CloudError
from clusters.onboarding.aws import RoleAccessError
from clusters.services import market as market_services
from clusters.services import node_classes as node_class_services
from policies.federation.selectors import organization_ids_with_federation_work
from workers.enqueue import (
    PROVISIONING_LAUNCH,
    PROVISIONING_RECONCILE,
    RECONCILE_MARK_SECONDS,
    cluster_check_queued_key,
    federation_follow_up_key,
    federation_queued_key,
    launch_queued_key,
    market_refresh_queued_key,
    reconcile_ended,
    reconcile_ended_many,
    reconcile_queued_key,
    reconcile_started,
    reconcile_started_many,
    request_federation_pass,
    request_market_refresh,
    request_replay_step,
    send_once,
)
from workers.federation import run_pass
from workers.leases import LeaseLost, held, leases_prune
from workers.provisioning.budget import ApiBudgetSpent
from workers.provisioning.launching import launch_row
from workers.provisioning.reconcile import ReconcileReport, reconcile_batch, reconcile_cluster
from workers.schedule import schedule_due_passes

logger = logging.getLogger(__name__)

# A federation pass that leaves work in flight (rolling out, failing, within a grace period) asks
# for the next one this much later.
FOLLOW_UP_SECONDS = 2
# One worker meters a cluster at a time; a metering run takes seconds, so a dead worker's lease
# frees the cluster within a couple of intervals.
METERING_LEASE_TTL = timedelta(minutes=2)


@task_prerun.connect
def _usable_connections(task: Any = None, **_: Any) -> None:
    """Before each task a worker runs, drop this thread's database connections that failed or outlived
    CONN_MAX_AGE, as Django does around each request: Celery's fixup keeps them from task to task
    (`CELERY_DB_REUSE_MAX`), so a pass does not open a new PostgreSQL backend each time. Not for a task
    run in the caller's thread (`apply`, tests), whose connection and transaction are the caller's."""
    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()


def statements_bounded(**_: Any) -> None:
    """From now on, every new PostgreSQL connection of this process cancels a statement that runs
    longer than a task's soft time limit. Celery enforces its time limits in a prefork pool only; a
    threads pool (the federation worker, the recommended provisioning workers) cannot stop a thread,
    so a pass stuck on a hung statement or a lock would hold its thread for good. PostgreSQL's
    ``statement_timeout`` ends such a statement on every pool, and a statement past the soft limit
    would have been stopped anyway. Connected to ``worker_init``: web requests, ``migrate`` and the
    watcher keep the server's default."""
    connection_created.connect(_statement_timeout_set, dispatch_uid="workers.statements_bounded")


def _statement_timeout_set(sender: Any, connection: Any, **_: Any) -> None:
    if connection.vendor != "postgresql":  # SQLite's statements are local and end with the process
        return
    milliseconds = int(settings.CELERY_TASK_SOFT_TIME_LIMIT) * 1000
    with connection.cursor() as cursor:
        cursor.execute(f"SET statement_timeout = {milliseconds}")


worker_init.connect(statements_bounded, dispatch_uid="workers.statements_bounded")


# --- provisioning loop -----------------------------------------------------------------------------


@shared_task(ignore_result=True)
def provisioning_reconcile(cluster_id: str, *, due: float | None = None, again_if_busy: bool = True) -> str:
    """One reconcile pass of a nodeless cluster, queued through `workers.enqueue.request_reconcile`
    (at most one queued or running per cluster); `due` is when the scheduler meant it to run. When
    another worker holds the cluster's lease, the change that triggered this task may have arrived
    after that pass read the cluster: run once more shortly after, so no pending pod waits for the
    next scheduled pass."""
    reconcile_started(cluster_id)
    try:
        outcome = reconcile_cluster(cluster_id, dispatch=_enqueue_launches).outcome
    finally:
        reconcile_ended(cluster_id)
    if outcome == "busy" and again_if_busy:
        send_once(
            reconcile_queued_key(cluster_id),
            PROVISIONING_RECONCILE,
            (cluster_id,),
            kwargs={"again_if_busy": False},
            countdown=1,
            timeout=RECONCILE_MARK_SECONDS,
        )
    if due is not None:
        logger.debug("reconcile %s: %s, %.2fs after it was due", cluster_id, outcome, time.time() - due)
    return outcome


@shared_task(ignore_result=True)
def provisioning_reconcile_batch(
    cluster_ids: list[str], *, dues: list[float] | None = None
) -> list[list[object]]:
    """A scheduled pass over each of one shard's due clusters (`workers.schedule`), coalesced into one
    task (`reconcile_batch`: one statement takes their leases, one query reads their policies, and
    each cluster's pass runs side by side with the others). Each cluster's mark is cleared as its
    pass ends, and a cluster another worker holds is passed over again shortly after, as
    `provisioning_reconcile` does. Answers `[cluster id, outcome, when it ended]` for each cluster."""
    reconcile_started_many(cluster_ids)
    ended: list[list[object]] = []

    def on_done(reports: list[ReconcileReport]) -> None:
        at = time.time()
        reconcile_ended_many([report.cluster_id for report in reports])
        for report in reports:
            ended.append([report.cluster_id, report.outcome, at])
            if report.outcome == "busy":
                send_once(
                    reconcile_queued_key(report.cluster_id),
                    PROVISIONING_RECONCILE,
                    (report.cluster_id,),
                    kwargs={"again_if_busy": False},
                    countdown=1,
                    timeout=RECONCILE_MARK_SECONDS,
                )

    try:
        reconcile_batch(cluster_ids, dispatch=_enqueue_launches, on_done=on_done)
    finally:
        # A batch that failed before a cluster's pass ended leaves no cluster marked as running.
        reported = {str(cluster_id) for cluster_id, _, _ in ended}
        reconcile_ended_many([c for c in cluster_ids if str(c) not in reported])
    return ended


def _enqueue_launches(row_ids: list[str]) -> None:
    for row_id in row_ids:
        transaction.on_commit(partial(request_launch, row_id))


def request_launch(row_id: str) -> bool:
    """One launch task per ManagedNode in flight: a pass that hands the same row over again while
    its task waits in a backlog (or runs) adds nothing. True when this call queued one."""
    return send_once(launch_queued_key(row_id), PROVISIONING_LAUNCH, (row_id,))


@shared_task(ignore_result=True)
def provisioning_launch(row_id: str) -> str:
    """Make the cloud call for one launch the reconcile pass recorded."""
    try:
        return launch_row(row_id)
    except ApiBudgetSpent:
        return "throttled"  # the row stays requested: the next pass hands it over again
    finally:
        cache.delete(launch_queued_key(row_id))  # done: a later pass may hand the row over again


@shared_task(ignore_result=True)
def provisioning_schedule() -> int:
    """Beat, every tick: queue the reconcile passes that are due, fairly (`workers.schedule`)."""
    return schedule_due_passes().sent


# --- federation loop ---------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def federation_pass(organization_id: str, follow_up: bool = False) -> None:
    # Writes made while this pass runs must be able to queue the next one (and this pass is the
    # follow-up a pass asked for, if one was waiting).
    cache.delete_many([federation_queued_key(organization_id), federation_follow_up_key(organization_id)])
    try:
        report = run_pass(organization_id, follow_up=follow_up)
    except LeaseLost:
        return  # another worker took the organization over mid-pass; it carries on
    if report is not None and report.unsettled:
        request_federation_pass(organization_id, countdown=FOLLOW_UP_SECONDS)


@shared_task(ignore_result=True)
def federation_pass_all() -> int:
    """Beat: one pass per organization with federated workloads."""
    organization_ids = organization_ids_with_federation_work()
    for organization_id in organization_ids:
        request_federation_pass(organization_id)
    return len(organization_ids)


# --- cluster health ------------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def cluster_health_check(cluster_id: str) -> None:
    cluster_services.cluster_check_health_by_id(cluster_id)


@shared_task(ignore_result=True)
def cluster_health_check_all() -> int:
    cluster_ids = cluster_selectors.connected_cluster_ids()
    for cluster_id in cluster_ids:
        cluster_health_check.delay(cluster_id)
    return len(cluster_ids)


# A check someone waits for calls the customer's server within CHECK_SECONDS; a server that keeps
# every call just alive past it is stopped by the soft limit (its outcome recorded as no answer), and
# the worker process is killed by the hard one if even that does not end it.
CHECK_SOFT_LIMIT = cluster_services.CHECK_SECONDS + 2
CHECK_HARD_LIMIT = cluster_services.CHECK_SECONDS + 5


@shared_task(ignore_result=True, soft_time_limit=CHECK_SOFT_LIMIT, time_limit=CHECK_HARD_LIMIT)
def cluster_check(cluster_id: str) -> None:
    """Connect or check the cluster someone asked about (`clusters.services.checks`)."""
    # From here on an ask is answered by this run (the cluster row says one is in flight) or, once it
    # has recorded its outcome, by a new one: the mark only keeps copies out of the queue.
    cache.delete(cluster_check_queued_key(cluster_id))
    try:
        cluster_services.cluster_check_run(cluster_id)
    except SoftTimeLimitExceeded:
        cluster_services.cluster_check_timed_out(cluster_id)


@shared_task(ignore_result=True)
def node_class_release(account_id: str, cluster_id: str, region: str) -> str:
    """Delete the launch templates of a cluster that left nodeless mode or was removed."""
    try:
        deleted = node_class_services.node_class_release(
            account_id=account_id, cluster_id=cluster_id, region=region
        )
    except (CloudError, RoleAccessError) as error:  # the customer sees them in their account; logged
        logger.warning("launch templates of cluster %s not deleted: %s", cluster_id, error)
        return "failed"
    return f"{len(deleted)} deleted"


# --- metering ------------------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def metering_meter_cluster(cluster_id: str) -> str:
    """Meter one cluster's complete intervals not metered yet (a repeat finds nothing due)."""
    with held(f"metering:{cluster_id}", ttl=METERING_LEASE_TTL) as lease:
        if lease is None:
            return "busy"
        return meter_cluster(cluster_id).outcome


@shared_task(ignore_result=True)
def metering_meter_all() -> int:
    """Beat, every metering interval (`NODELESS_METERING_SECONDS`): one metering task per cluster."""
    cluster_ids = cluster_selectors.connected_cluster_ids()
    for cluster_id in cluster_ids:
        metering_meter_cluster.delay(cluster_id)
    return len(cluster_ids)


@shared_task(ignore_result=True)
def metering_prune() -> int:
    """Beat, hourly: drop raw intervals older than the retention (the rollups keep their sums), and
    the containers' usage history older than right-sizing's longest window (and merge the hours of
    days before yesterday into one row per day)."""
    now = timezone.now()
    usage_history_prune(now)
    usage_history_compact(now)
    return raw_usage_prune(now)


@shared_task(ignore_result=True)
def lease_rows_prune() -> int:
    """Beat, hourly: delete the rows of free leases (``workers.leases.leases_prune``)."""
    return leases_prune(timezone.now())


# --- market prices -------------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def market_refresh(region: str, kind: str) -> str:
    """Refresh one region's spot price history and forecasts (`spot`) or on-demand price list
    (`on_demand`); a failure is recorded on the region's refresh row, not raised."""
    try:
        refresh = (
            market_services.market_refresh_spot
            if kind == "spot"
            else market_services.market_refresh_on_demand
        )
        outcome = refresh(region)
    finally:
        cache.delete(market_refresh_queued_key(region, kind))
    return outcome.problem or f"{outcome.prices} prices"


def _refresh_all(kind: str) -> int:
    regions = market_services.market_regions()
    for region in regions:
        request_market_refresh(region, kind)
    return len(regions)


@shared_task(ignore_result=True)
def market_refresh_spot_all() -> int:
    """Beat: refresh the spot prices of every region with nodeless clusters."""
    return _refresh_all("spot")


@shared_task(ignore_result=True)
def market_refresh_on_demand_all() -> int:
    """Beat: refresh the on-demand price list of every region with nodeless clusters."""
    return _refresh_all("on_demand")


# --- policy replay ----------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def billing_replay_step(run_id: str) -> str:
    """One bounded step of a draft policy's replay (`billing.services.replay.replay_step`), then the
    next one queued while steps remain (each step writes only if no other delivery did)."""
    more = replay_step(run_id)
    if more:
        request_replay_step(run_id)
    return "more" if more else "done"
