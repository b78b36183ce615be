"""Celery entrypoints of the provisioning loop: thin, id-based, idempotent."""

from __future__ import annotations

from functools import partial

from celery import shared_task
from django.db import transaction

from clusters.models import Cluster, ClusterMode
from workers.provisioning.launching import launch_row
from workers.provisioning.reconcile import reconcile_cluster


@shared_task(ignore_result=True)
def provisioning_reconcile(cluster_id: str, *, again_if_busy: bool = True) -> str:
    """One reconcile pass of a nodeless cluster. When another worker holds the cluster's lease, the
    change that triggered this task may have arrived after that pass read the cluster: run once more
    shortly after, so no pending pod waits for the next beat."""
    outcome = reconcile_cluster(cluster_id, dispatch=_enqueue_launches).outcome
    if outcome == "busy" and again_if_busy:
        provisioning_reconcile.apply_async((cluster_id,), {"again_if_busy": False}, countdown=1)
    return outcome


def _enqueue_launches(row_ids: list[str]) -> None:
    for row_id in row_ids:
        transaction.on_commit(partial(provisioning_launch.delay, row_id))


@shared_task(ignore_result=True)
def provisioning_launch(row_id: str) -> str:
    """Make the cloud call for one launch the reconcile pass recorded."""
    return launch_row(row_id)


@shared_task(ignore_result=True)
def provisioning_reconcile_all() -> int:
    """Beat: a pass for every nodeless cluster, so time-based steps (scale-down) happen without events."""
    cluster_ids = [
        str(pk) for pk in Cluster.objects.filter(mode=ClusterMode.NODELESS).values_list("pk", flat=True)
    ]
    for cluster_id in cluster_ids:
        provisioning_reconcile.delay(cluster_id)
    return len(cluster_ids)
