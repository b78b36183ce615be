"""Pod and node watches that trigger reconcile passes, batched like Karpenter's provisioner.

Karpenter waits for 1 s without new pending pods (at most 10 s) so a burst of pods becomes one
batch and fewer, better-packed nodes. Nodeless uses a 50 ms idle window and a 200 ms maximum: a
burst created within that time still becomes one plan, a lone pod gets its launch request well
within a second, and pods that arrive later are packed onto the nodes already in flight (the
planner fills existing and launching nodes before it buys new ones), so short windows cost little
packing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from clusters.kube.api import KINDS, ClusterApi, ClusterRefused, ClusterUnreachable, Gone

logger = logging.getLogger(__name__)

IDLE_SECONDS = 0.05
MAX_WINDOW_SECONDS = 0.2
WATCH_TIMEOUT_SECONDS = 30


@dataclass
class _Window:
    first: float
    last: float


class Batcher:
    """Collects "something changed in cluster X" marks and fires `trigger(X)` once per batch."""

    def __init__(
        self,
        trigger: Callable[[str], object],
        *,
        idle: float = IDLE_SECONDS,
        max_window: float = MAX_WINDOW_SECONDS,
    ) -> None:
        self.trigger, self.idle, self.max_window = trigger, idle, max_window
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="nodeless-batcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._thread.join(timeout=5)

    def mark(self, cluster_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(cluster_id)
            if window is None:
                self._windows[cluster_id] = _Window(now, now)
            else:
                window.last = now
            self._lock.notify_all()

    def _due(self, now: float) -> list[str]:
        return [
            cluster_id
            for cluster_id, window in self._windows.items()
            if now - window.last >= self.idle or now - window.first >= self.max_window
        ]

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                if not self._windows:
                    self._lock.wait(timeout=1.0)
                    continue
                now = time.monotonic()
                due = self._due(now)
                for cluster_id in due:
                    del self._windows[cluster_id]
                if not due:
                    self._lock.wait(timeout=min(self.idle, 0.05))
                    continue
            for cluster_id in due:
                try:
                    self.trigger(cluster_id)
                except Exception:  # a failing trigger must not stop batching for other clusters
                    logger.exception("reconcile trigger for cluster %s failed", cluster_id)


def _interesting_pod(pod: dict[str, Any]) -> bool:
    """Pending pods (to launch for) and pods that finished or left a node (to scale down)."""
    phase = (pod.get("status") or {}).get("phase")
    return not (pod.get("spec") or {}).get("nodeName") or phase in ("Succeeded", "Failed")


class ClusterWatcher:
    """Watches one cluster's pods and nodes and marks it in the batcher when they change. `api`
    gives the cluster's client; it is asked again for every watch, so an EKS token that expires
    (after 15 minutes) is replaced by a fresh one instead of failing every watch from then on."""

    def __init__(self, cluster_id: str, api: Callable[[], ClusterApi], batcher: Batcher) -> None:
        self.cluster_id, self.api, self.batcher = cluster_id, api, batcher
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._loop, args=(kind,), name=f"watch-{kind}-{cluster_id[:8]}", daemon=True
            )
            for kind in ("Pod", "Node")
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, kind: str) -> None:
        resource_version = ""
        while not self._stop.is_set():
            try:
                api = self.api()
                if not resource_version:
                    # Start from "now": the reconcile pass itself handles everything that already exists.
                    page = api.list_page(KINDS[kind].path(), limit=1)
                    resource_version = str((page.get("metadata") or {}).get("resourceVersion") or "")
                    self.batcher.mark(self.cluster_id)
                for event_type, obj in api.watch(
                    kind, resource_version=resource_version, timeout_seconds=WATCH_TIMEOUT_SECONDS
                ):
                    if self._stop.is_set():
                        return
                    resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                    if event_type == "BOOKMARK":
                        continue
                    if kind == "Node" or event_type == "DELETED" or _interesting_pod(obj):
                        self.batcher.mark(self.cluster_id)
            except Gone:  # our resourceVersion was compacted away: start again from now
                resource_version = ""
            except (ClusterUnreachable, ClusterRefused, ValueError) as error:
                logger.warning("watching %s of cluster %s failed: %s", kind, self.cluster_id, error)
                self._stop.wait(2.0)
            except Exception as error:  # a credential problem: keep trying, the next refresh may work
                logger.warning("watching %s of cluster %s failed: %s", kind, self.cluster_id, error)
                self._stop.wait(5.0)
