"""Connecting and checking a cluster someone is waiting for, in a worker.

Sign-up is open, so the API server we call is whatever address the customer gave: a port that
accepts and never speaks TLS, or a server that answers each call just in time, must hold no request
thread. A request only records the ask (`cluster_check_request`, or a connect service) and enqueues
`cluster_check_run` for the cluster's id once it commits; the page and the API show the check's
progress (`status`, `check_started_at`, `check_step`) and then its outcome. The run calls the
cluster within one deadline (`CHECK_SECONDS`); the task around it is stopped shortly after that in
any case (`workers.tasks.cluster_check`), and `cluster_check_timed_out` records that outcome.

A cluster being connected (or whose connection failed) is `connecting`: the first check decides
between `connected` and `failed` (the reason in `health_problem`); a connected cluster's check
records its health like the periodic one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from clusters.kube.deadline import Deadline
from clusters.kube.failures import no_api_server_answered
from clusters.kube.probe import ProbeResult
from clusters.models import Cluster, ClusterCheckStep, ClusterConnection, ClusterHealth, ClusterStatus
from clusters.observation.reading import list_cluster
from clusters.selectors import CHECK_STALE_SECONDS
from clusters.services.health import (
    HEALTH_FIELDS,
    health_record,
    probe_cluster,
    probe_record,
    read_for_health,
    still_there,
)
from clusters.services.node_classes import node_class_refresh
from engines.kube.cluster import ClusterState
from tenants.models import Organization
from workers.enqueue import cluster_check_on_commit

# Everything a check asks of the cluster, within this; the worker is freed a little after it whatever
# the cluster does (the task's time limits).
CHECK_SECONDS = 10
CHECK_FIELDS = ("status", "check_started_at", "check_step")


def check_asked(cluster: Cluster) -> None:
    """Mark a check as asked for on `cluster` (saved by the caller, with CHECK_FIELDS); the task is
    sent once the caller's transaction commits."""
    cluster.check_started_at, cluster.check_step = timezone.now(), ClusterCheckStep.QUEUED
    if cluster.status == ClusterStatus.FAILED:
        cluster.status = ClusterStatus.CONNECTING  # trying again
    cluster_check_on_commit(str(cluster.pk))


def cluster_check_request(organization: Organization, *, cluster: Cluster) -> Cluster:
    """Someone asked for a check ("Check now", or "Try again" after a failed connection). While one is
    in flight, it answers this ask too (the page shows its progress)."""
    assert cluster.organization_id == organization.pk
    started = cluster.check_started_at
    if started is not None and timezone.now() - started < timedelta(seconds=CHECK_STALE_SECONDS):
        return cluster
    with transaction.atomic():
        check_asked(cluster)
        # A cluster deleted meanwhile makes this save fail, which answers 409 (tenants.races).
        cluster.save(update_fields=CHECK_FIELDS)
    return cluster


def _step(cluster: Cluster, step: str) -> None:
    Cluster.objects.filter(pk=cluster.pk).update(
        check_step=step, check_started_at=Coalesce(F("check_started_at"), timezone.now())
    )


def cluster_check_run(cluster_id: str) -> Cluster | None:
    """The check task's step: probe, then list the cluster, every call within CHECK_SECONDS; record
    the outcome. None when the cluster was deleted before or while it ran."""
    cluster = Cluster.objects.select_related("organization", "cloud_account").filter(pk=cluster_id).first()
    if cluster is None:
        return None
    deadline = Deadline.after(CHECK_SECONDS)
    _step(cluster, ClusterCheckStep.PROBING)
    asked = Cluster.objects.filter(pk=cluster.pk).values_list("check_started_at", flat=True).first()
    result = probe_cluster(cluster, deadline=deadline)
    connecting = cluster.status != ClusterStatus.CONNECTED
    state: ClusterState | None = None
    problem = ""
    if result.reachable and not (connecting and result.missing):
        _step(cluster, ClusterCheckStep.LISTING)
        now = timezone.now()
        state, problem = read_for_health(cluster, read=list_cluster, now=now, deadline=deadline)
        if cluster.is_nodeless and cluster.connection == ClusterConnection.EKS and cluster.cloud_account:
            # What its nodes need (subnets, AMIs, the node role's access entry, created if missing),
            # shown on the cluster page; a problem there keeps the loop from launching.
            node_class_refresh(cluster)
    return _record(cluster, result=result, state=state, problem=problem, asked=asked)


def cluster_check_timed_out(cluster_id: str) -> Cluster | None:
    """The task ran out of time (a server that kept each call just within its timeouts): the same
    outcome, in the same words, as a server that never answered."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return None
    unanswered = ProbeResult(reachable=False, problem=no_api_server_answered(cluster.endpoint))
    return _record(cluster, result=unanswered, state=None, problem="")


def _record(
    cluster: Cluster,
    *,
    result: ProbeResult,
    state: ClusterState | None,
    problem: str,
    asked: datetime | None = None,
) -> Cluster | None:
    """Record under the row's lock. A check asked for again while this one ran (new credentials, a new
    mode) is left to decide: this one, made with what it loaded before, records nothing."""
    connecting = cluster.status != ClusterStatus.CONNECTED
    with transaction.atomic():
        if not still_there(cluster):
            return None
        now_asked = Cluster.objects.filter(pk=cluster.pk).values_list("check_started_at", flat=True).first()
        if asked is not None and now_asked not in (None, asked):
            return cluster
        if connecting and result.missing:
            probe_record(cluster, result=result)  # not listed: it will not be connected
        else:
            health_record(cluster, result=result, state=state, problem=problem, now=timezone.now())
        if connecting:
            _connection_outcome(cluster, result)
        cluster.check_started_at, cluster.check_step = None, ""
        cluster.save(update_fields=(*HEALTH_FIELDS, *CHECK_FIELDS))
    cluster.refresh_from_db(fields=["node_count", "pod_count", "capacity"])
    return cluster


def _connection_outcome(cluster: Cluster, result: ProbeResult) -> None:
    """A first check decides: in service only when the cluster answered, our credentials may do what
    its mode needs, and it could be listed (what the listing saw is its first observation)."""
    if cluster.health == ClusterHealth.HEALTHY:
        cluster.status = ClusterStatus.CONNECTED
        return
    cluster.status = ClusterStatus.FAILED
    if result.reachable and result.missing:
        advice = " or connect it in observe mode" if cluster.is_nodeless else ""
        cluster.health_problem = (
            f"the credentials {'; '.join(result.missing)}. Grant these{advice}, then check again"
        )
