"""Celery entrypoints of metering: thin, id-based, idempotent (see `billing.services.metering`)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from billing.services.ledger import raw_usage_prune
from billing.services.metering import meter_cluster
from clusters.selectors import cluster_ids_all


@shared_task(ignore_result=True)
def metering_meter_cluster(cluster_id: str) -> str:
    """Meter one cluster's complete intervals not metered yet (a repeat finds nothing due)."""
    return meter_cluster(cluster_id).outcome


@shared_task(ignore_result=True)
def metering_meter_all() -> int:
    """Beat, every metering interval (`NODELESS_METERING_SECONDS`): one metering task per cluster."""
    cluster_ids = cluster_ids_all()
    for cluster_id in cluster_ids:
        metering_meter_cluster.delay(cluster_id)
    return len(cluster_ids)


@shared_task(ignore_result=True)
def metering_prune() -> int:
    """Beat, hourly: drop raw intervals older than the retention (the rollups keep their sums)."""
    return raw_usage_prune(timezone.now())
