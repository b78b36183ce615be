"""Cluster health: a probe (does the API answer, which version, may we do what our loops need) and a
read of the cluster, kept as its observation.

`cluster_check_health_by_id` is the health task's system entry point (every connected cluster, every
minute, by id). A check someone asks for (connecting, "Check now") runs in a worker too, within one
deadline: `clusters.services.checks`. Both record what they found here (`health_record`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clusters.kube.access import ClusterCredentialsError, cluster_api_client, unauthorized_hint
from clusters.kube.deadline import Deadline
from clusters.kube.probe import ProbeResult, probe
from clusters.models import Cluster, ClusterHealth, ClusterStatus
from clusters.observation.reading import ClusterUnavailable, read_cluster
from clusters.observation.recording import observation_failed, observation_record
from engines.kube.cluster import ClusterState

logger = logging.getLogger(__name__)

HEALTH_FIELDS = (
    "health",
    "health_problem",
    "last_checked_at",
    "last_healthy_at",
    "kubernetes_version",
    "permissions",
)


def probe_cluster(cluster: Cluster, *, deadline: Deadline | None = None) -> ProbeResult:
    try:
        # No retry: a probe's answer is wanted within its deadline, and the next check comes anyway.
        client = cluster_api_client(cluster, retries=0)
    except ClusterCredentialsError as error:
        return ProbeResult(reachable=False, problem=str(error))
    with client:
        return probe(
            client,
            server=client.configuration.host,
            nodeless=cluster.is_nodeless,
            unauthorized_hint=unauthorized_hint(cluster),
            deadline=deadline,
        )


def probe_record(cluster: Cluster, *, result: ProbeResult) -> None:
    now = timezone.now()
    cluster.last_checked_at = now
    cluster.health_problem = result.problem
    if not result.reachable:
        cluster.health = ClusterHealth.UNREACHABLE
        return
    cluster.health = ClusterHealth.DEGRADED if result.missing else ClusterHealth.HEALTHY
    cluster.last_healthy_at = now
    cluster.kubernetes_version = result.version
    cluster.permissions = result.permissions


def read_for_health(
    cluster: Cluster, *, read: Callable[..., ClusterState], now: datetime, deadline: Deadline | None = None
) -> tuple[ClusterState | None, str]:
    """The cluster as `read` gives it (within `deadline`, when one is given), or None and why it could
    not be read."""
    try:
        options = {} if deadline is None else {"deadline": deadline}
        return read(cluster, now=now, **options), ""
    except ClusterUnavailable as error:
        return None, f"cannot list its pods and nodes: {error}"
    except Exception as error:
        # Something the cluster answered that we failed to read. The page must not go on saying
        # "Healthy" over counts nobody refreshed: say the check failed, and log it for us.
        logger.exception("health check of cluster %s could not read its answer", cluster.pk)
        return None, (
            f"the health check failed reading the cluster's pods and nodes ({type(error).__name__}); "
            "Nodeless's operators have the details"
        )


def still_there(cluster: Cluster) -> bool:
    """Lock the cluster's row for the rest of the transaction; False when it was deleted meanwhile
    (a check's findings about a removed cluster are dropped, not an error)."""
    return Cluster.objects.select_for_update().filter(pk=cluster.pk).exists()


def health_record(
    cluster: Cluster, *, result: ProbeResult, state: ClusterState | None, problem: str, now: datetime
) -> None:
    """What a check found, on `cluster` (its fields; the caller saves HEALTH_FIELDS) and as its
    observation. A cluster that answers the probe but cannot be listed is degraded, with why."""
    probe_record(cluster, result=result)
    if cluster.health == ClusterHealth.UNREACHABLE:
        return
    if state is not None:
        observation_record(cluster, state, force=True)
        return
    observation_failed(cluster, problem, now)
    cluster.health, cluster.health_problem = ClusterHealth.DEGRADED, problem


def cluster_check_health_by_id(cluster_id: str) -> Cluster | None:
    """The health task's step: None when the cluster was deleted since it was enqueued (its periodic
    work stops there) or is not in service (a worker is connecting it)."""
    cluster = (
        Cluster.objects.select_related("organization", "cloud_account")
        .filter(pk=cluster_id, status=ClusterStatus.CONNECTED)
        .first()
    )
    return None if cluster is None else cluster_check_health(cluster)


def cluster_check_health(cluster: Cluster, *, read: Callable[..., ClusterState] = read_cluster) -> Cluster:
    """The health task's check: probe once and record health, version and permissions; then read the
    cluster (its one observation, kept current by this worker's watches) and keep what it holds, so
    the counts on every page come from that read."""
    now = timezone.now()
    result = probe_cluster(cluster)
    state, problem = read_for_health(cluster, read=read, now=now) if result.reachable else (None, "")
    with transaction.atomic():
        if still_there(cluster):
            health_record(cluster, result=result, state=state, problem=problem, now=now)
            cluster.save(update_fields=HEALTH_FIELDS)
    return cluster
