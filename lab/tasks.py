"""A Celery step of the trace replay (development only): create the trace pods due since the last
step, then schedule the next step. Bounded and idempotent: a repeated step finds its pods already
created. `manage.py replay_trace` is what the demo runs; this is the same replay as Celery work."""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task

from clusters.kube.access import cluster_api
from clusters.kube.api import ClusterApi
from clusters.models import Cluster
from lab.traces import replay as trace_replay
from lab.traces.alibaba import read_alibaba_pods

TRACE_STEP_SECONDS = 5.0


@shared_task(ignore_result=True)
def trace_replay_step(
    cluster_id: str, trace: str, start: int, hours: float, speed: float, started_at: float, done_until: float
) -> int:
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

    def connect() -> ClusterApi:
        return cluster_api(cluster)

    trace_replay.ensure_namespace(connect, "trace")
    created = sum(
        trace_replay.create(connect, item)
        for item in trace_replay.due(items, elapsed_from=done_until, elapsed_to=elapsed)
    )
    if items and elapsed < items[-1].at:
        trace_replay_step.apply_async(
            (cluster_id, trace, start, hours, speed, started_at, elapsed), countdown=TRACE_STEP_SECONDS
        )
    return created
