"""Celery entrypoints of the provisioning loop: thin, id-based, idempotent."""

from __future__ import annotations

from celery import shared_task

from clusters.models import Cluster, ClusterMode
from workers.provisioning.reconcile import reconcile_cluster


@shared_task(ignore_result=True)
def provisioning_reconcile(cluster_id: str) -> str:
    """One reconcile pass of a nodeless cluster (skips at once if another worker holds its lease)."""
    return reconcile_cluster(cluster_id).outcome


@shared_task(ignore_result=True)
def provisioning_reconcile_all() -> int:
    """Beat: a pass for every nodeless cluster, so time-based steps (scale-down) happen without events."""
    cluster_ids = [
        str(pk) for pk in Cluster.objects.filter(mode=ClusterMode.NODELESS).values_list("pk", flat=True)
    ]
    for cluster_id in cluster_ids:
        provisioning_reconcile.delay(cluster_id)
    return len(cluster_ids)
