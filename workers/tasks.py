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


TRACE_STEP_SECONDS = 5.0


@shared_task(ignore_result=True)
def trace_replay_step(
    cluster_id: str, trace: str, start: int, hours: float, speed: float, started_at: float, done_until: float
) -> int:
    """Create the trace pods due since the last step, then schedule the next step (bounded, idempotent:
    a repeated step finds its pods already created)."""
    import time
    from pathlib import Path

    from kubernetes import client as k8s

    from billing.pricing.alibaba import read_alibaba_pods
    from clusters.kube.access import cluster_api_client
    from workers import trace_replay

    cluster = Cluster.objects.select_related("organization", "cloud_account").filter(pk=cluster_id).first()
    if cluster is None:
        return 0
    end = start + int(hours * 3600)
    items = trace_replay.schedule(
        read_alibaba_pods(Path(trace)),
        start=start,
        end=end,
        speed=speed,
        namespace="trace",
        trace=Path(trace).stem,
    )
    elapsed = time.time() - started_at
    core = k8s.CoreV1Api(cluster_api_client(cluster))
    trace_replay.ensure_namespace(core, "trace")
    created = sum(
        trace_replay.create(core, item)
        for item in trace_replay.due(items, elapsed_from=done_until, elapsed_to=elapsed)
    )
    if items and elapsed < items[-1].at:
        trace_replay_step.apply_async(
            (cluster_id, trace, start, hours, speed, started_at, elapsed), countdown=TRACE_STEP_SECONDS
        )
    return created
