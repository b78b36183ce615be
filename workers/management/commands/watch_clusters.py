"""Long-running: watch the pods and nodes of every nodeless cluster and enqueue a reconcile pass per
batch of changes (beat still runs a pass every few seconds for time-based steps)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand

from clusters.kube.access import cluster_api
from clusters.kube.api import ClusterApi
from clusters.models import Cluster, ClusterMode, ClusterStatus
from workers.enqueue import request_reconcile
from workers.provisioning.watcher import Batcher, ClusterWatcher

REFRESH_SECONDS = 15


class Command(BaseCommand):
    help = "Watch nodeless clusters and trigger provisioning passes as pods become pending."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        # Coalesced: a cluster whose pass is queued gets no second one; one running gets one more after.
        batcher = Batcher(request_reconcile)
        batcher.start()
        watchers: dict[str, ClusterWatcher] = {}
        while not stop.is_set():
            wanted = {
                str(cluster.pk): cluster
                for cluster in Cluster.objects.filter(
                    mode=ClusterMode.NODELESS, status=ClusterStatus.CONNECTED
                ).select_related("organization", "cloud_account")
            }
            for cluster_id in set(watchers) - set(wanted):
                watchers.pop(cluster_id).stop()
            for cluster_id, cluster in wanted.items():
                if cluster_id not in watchers:
                    watcher = ClusterWatcher(cluster_id, _api_of(cluster), batcher)
                    watcher.start()
                    watchers[cluster_id] = watcher
            stop.wait(REFRESH_SECONDS)
        for watcher in watchers.values():
            watcher.stop()
        batcher.stop()


def _api_of(cluster: Cluster) -> Callable[[], ClusterApi]:
    return lambda: cluster_api(cluster)
