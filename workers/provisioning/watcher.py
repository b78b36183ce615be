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

from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

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
        trigger: Callable[[str], None],
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


class _RawWatch(watch.Watch):
    """The official watch, minus building model objects: the watcher reads three fields of plain
    JSON, and model building costs milliseconds per event at thousands of pods."""

    def get_return_type(self, func: Any) -> None:
        return None


def _interesting_pod(pod: dict[str, Any]) -> bool:
    """Pending pods (to launch for) and pods that finished or left a node (to scale down)."""
    phase = (pod.get("status") or {}).get("phase")
    return not (pod.get("spec") or {}).get("nodeName") or phase in ("Succeeded", "Failed")


class ClusterWatcher:
    """Watches one cluster's pods and nodes and marks it in the batcher when they change."""

    def __init__(self, cluster_id: str, api_client: k8s.ApiClient, batcher: Batcher) -> None:
        self.cluster_id, self.api_client, self.batcher = cluster_id, api_client, batcher
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._loop, args=("pods",), name=f"watch-pods-{cluster_id[:8]}", daemon=True
            ),
            threading.Thread(
                target=self._loop, args=("nodes",), name=f"watch-nodes-{cluster_id[:8]}", daemon=True
            ),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self, kind: str) -> None:
        core = k8s.CoreV1Api(self.api_client)
        lister = core.list_pod_for_all_namespaces if kind == "pods" else core.list_node
        resource_version = ""
        while not self._stop.is_set():
            try:
                if not resource_version:
                    # Start from "now": the reconcile pass itself handles everything that already exists.
                    listing = lister(limit=1, _request_timeout=10)
                    resource_version = str(listing.metadata.resource_version) if listing.metadata else ""
                    self.batcher.mark(self.cluster_id)
                stream = _RawWatch().stream(  # type: ignore[no-untyped-call]
                    lister,
                    resource_version=resource_version,
                    timeout_seconds=WATCH_TIMEOUT_SECONDS,
                    _request_timeout=WATCH_TIMEOUT_SECONDS + 5,
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    obj = event["object"]
                    if not isinstance(obj, dict):
                        continue
                    resource_version = (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                    if kind == "nodes" or event["type"] == "DELETED" or _interesting_pod(obj):
                        self.batcher.mark(self.cluster_id)
            except ApiException as error:
                if error.status == 410:  # our resourceVersion was compacted away: list again
                    resource_version = ""
                    continue
                logger.warning("watching %s of cluster %s failed: %s", kind, self.cluster_id, error.reason)
                self._stop.wait(2.0)
            except (HTTPError, OSError, ValueError) as error:
                logger.warning("watching %s of cluster %s failed: %s", kind, self.cluster_id, error)
                self._stop.wait(2.0)
