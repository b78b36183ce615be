"""Pod and node watches drive the loop: a pending pod gets its node without anyone polling."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from clusters.kube.access import cluster_api
from clusters.models import Cluster
from tests.fixtures.simulation import wait_for
from workers.provisioning.reconcile import reconcile_cluster
from workers.provisioning.watcher import Batcher, ClusterWatcher


def test_marks_arriving_together_become_one_batch() -> None:
    fired: list[str] = []
    done = threading.Event()

    def trigger(cluster_id: str) -> None:
        fired.append(cluster_id)
        done.set()

    batcher = Batcher(trigger, idle=0.2, max_window=5)
    batcher.start()
    for _ in range(50):
        batcher.mark("c1")
    assert done.wait(5)
    batcher.stop()
    assert fired == ["c1"]


@pytest.mark.django_db(transaction=True)
def test_a_pending_pod_is_served_through_the_watch_alone(nodeless) -> None:
    def trigger(cluster_id: str) -> None:
        try:
            reconcile_cluster(cluster_id)
        finally:
            connections.close_all()

    batcher = Batcher(trigger)
    batcher.start()
    cluster = Cluster.objects.select_related("organization", "cloud_account").get(pk=nodeless.cluster.pk)
    watcher = ClusterWatcher(str(cluster.pk), lambda: cluster_api(cluster), batcher)
    watcher.start()
    try:
        nodeless.create_pod("watched", cpu="500m", memory="512Mi", run_seconds=3600)
        wait_for(lambda: nodeless.pod("watched").status.phase == "Running", timeout=30)
    finally:
        watcher.stop()
        batcher.stop()
