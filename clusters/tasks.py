"""Celery entrypoints for clusters: thin, id-based, idempotent."""

from __future__ import annotations

from celery import shared_task

from clusters import selectors, services
from clusters.models import Cluster


@shared_task(ignore_result=True)
def cluster_health_check(cluster_id: str) -> None:
    cluster = Cluster.objects.select_related("organization", "cloud_account").filter(pk=cluster_id).first()
    if cluster is None:  # deleted since it was enqueued: its loops stop here
        return
    services.cluster_check_health(cluster)


@shared_task(ignore_result=True)
def cluster_health_check_all() -> int:
    cluster_ids = selectors.cluster_ids_all()
    for cluster_id in cluster_ids:
        cluster_health_check.delay(cluster_id)
    return len(cluster_ids)
