"""Cluster health: a probe (does the API answer, which version, may we do what our loops need) and a
read of the cluster, kept as its observation.

`cluster_check_health_by_id` is the health task's system entry point (every cluster, every minute, by
id); `cluster_check_health_now` is the same check asked for by an admin on the cluster page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.utils import timezone

from clusters.kube.access import ClusterCredentialsError, cluster_api_client, unauthorized_hint
from clusters.kube.probe import ProbeResult, probe
from clusters.models import Cluster, ClusterHealth
from clusters.observation.reading import ClusterUnavailable, list_cluster, read_cluster
from clusters.observation.recording import observation_failed, observation_record
from engines.kube.cluster import ClusterState
from tenants.models import Organization

logger = logging.getLogger(__name__)


def probe_cluster(cluster: Cluster) -> ProbeResult:
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


def cluster_check_health_by_id(cluster_id: str) -> Cluster | None:
    """The health task's step: None when the cluster was deleted since it was enqueued (its periodic
    work stops there)."""
    cluster = Cluster.objects.select_related("organization", "cloud_account").filter(pk=cluster_id).first()
    return None if cluster is None else cluster_check_health(cluster)


def cluster_check_health(cluster: Cluster, *, read: Callable[..., ClusterState] = read_cluster) -> Cluster:
    """The health task's check: probe once and record health, version and permissions; then read the
    cluster (its one observation, kept current by this worker's watches) and keep what it holds, so
    the counts on every page come from that read. A cluster that answers the probe but cannot be
    listed is degraded, with why."""
    return _check_health(cluster, read)


def cluster_check_health_now(organization: Organization, *, cluster: Cluster) -> Cluster:
    """Someone asked from the cluster page: the same check, with a one-off listing (a web process
    keeps no watches)."""
    assert cluster.organization_id == organization.pk
    return _check_health(cluster, list_cluster)


def _check_health(cluster: Cluster, read: Callable[..., ClusterState]) -> Cluster:
    now = timezone.now()
    probe_record(cluster, result=probe_cluster(cluster))
    if cluster.health != ClusterHealth.UNREACHABLE:
        try:
            observation_record(cluster, read(cluster, now=now), force=True)
        except ClusterUnavailable as error:
            observation_failed(cluster, str(error), now)
            cluster.health = ClusterHealth.DEGRADED
            cluster.health_problem = f"cannot list its pods and nodes: {error}"
        except Exception as error:
            # Something the cluster answered that we failed to read. The page must not go on saying
            # "Healthy" over counts nobody refreshed: say the check failed, and log it for us.
            logger.exception("health check of cluster %s could not read its answer", cluster.pk)
            problem = f"the health check failed reading the cluster's pods and nodes ({type(error).__name__}); Nodeless's operators have the details"
            observation_failed(cluster, problem, now)
            cluster.health, cluster.health_problem = ClusterHealth.DEGRADED, problem
    cluster.save(
        update_fields=[
            "health",
            "health_problem",
            "last_checked_at",
            "last_healthy_at",
            "kubernetes_version",
            "permissions",
        ]
    )
    return cluster
