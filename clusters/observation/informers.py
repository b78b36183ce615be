"""Pods and nodes of a cluster, kept current from watches instead of listed again on every read
(and, once a pass first needs them, its claims, volumes, storage classes and CSINodes).

Like client-go's informers (and Karpenter's cluster state fed by them): one list, then a watch from
the list's `resourceVersion`, applying each ADDED / MODIFIED / DELETED event to an in-memory copy;
a watch that ends is resumed from the last version seen; `410 Gone` (the version is no longer kept)
lists again. Each watch cycle asks for the cluster's API client afresh, so a refreshed EKS token or a
rotated kubeconfig is picked up within one cycle.

Informers live in the process that reads the cluster (a Celery worker) and are started on first use;
one not read for `IDLE_SECONDS` is stopped, so a worker keeps only the clusters it serves warm.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from clusters.kube.api import ClusterApi, ClusterRefused, ClusterUnreachable, Gone, WatchBroken
from engines.kube.nodes import Node
from engines.kube.objects import ObjectView
from engines.kube.pods import Pod, essential_pod
from engines.kube.volumes import StorageState

logger = logging.getLogger(__name__)

Json = dict[str, Any]
WATCH_SECONDS = 240  # the server ends each watch after this; it is then resumed
IDLE_SECONDS = 600
# The registry looks for idle informers at most this often: looking on every `get` went over every
# informer each time, 100 x 100 a pass at 100 members (a sixth of a federation pass's CPU at rest).
REAP_SECONDS = 10.0
_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class _Resource:
    kind: str
    key: Callable[[Json], str]
    # What is held of each object: a kernel view, made once per version of the object, so what it
    # computes (a pod's requests) is computed once too, not once per read.
    keep: Callable[[Json], ObjectView]
    label_selector: str = ""  # only the objects it selects are listed and watched

    @property
    def name(self) -> str:
        return f"{self.kind}?{self.label_selector}" if self.label_selector else self.kind


def _pod_key(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def _node_key(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _namespaced_key(obj: Json) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


PODS = _Resource("Pod", _pod_key, lambda obj: Pod(essential_pod(obj)))
NODES = _Resource("Node", _node_key, Node)
CLAIMS = _Resource("PersistentVolumeClaim", _namespaced_key, ObjectView)
VOLUMES = _Resource("PersistentVolume", _node_key, ObjectView)
CLASSES = _Resource("StorageClass", _node_key, ObjectView)
CSI_NODES = _Resource("CSINode", _node_key, ObjectView)
# Watched only once a pass needs them (a pending pod with claims): most clusters' passes never do.
STORAGE = (CLAIMS, VOLUMES, CLASSES, CSI_NODES)


class _Store:
    """One resource's objects by key, with the version of the last event applied."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {}
        self.resource_version = ""
        self.synced = threading.Event()
        self.problem = ""


class ClusterInformer:
    """Keeps one cluster's pods and nodes current. `api` returns the cluster's client (it may
    return a new one when credentials change)."""

    def __init__(self, name: str, api: Callable[[], ClusterApi]) -> None:
        self.name, self._api = name, api
        self._lock = threading.Condition()  # notified on every change applied
        self._stores = {resource.name: _Store() for resource in (PODS, NODES, *STORAGE)}
        self._storage_started = False
        self._stop = threading.Event()
        self.last_read = time.monotonic()
        self._heard_at: float | None = None  # when a list or a watch event last came in
        # Lists and watch events applied so far (under _lock), and what readers derived from the
        # view: a reader keeps its result here with the count it read before, and reuses it while
        # the count is the same (nothing in the view changed since).
        self._changes = 0
        self.derived: dict[str, Any] = {}
        self._threads = [
            threading.Thread(
                target=self._run, args=(resource,), name=f"inform-{resource.kind}-{name}", daemon=True
            )
            for resource in (PODS, NODES)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_synced(self, timeout: float) -> bool:
        """True once pods and nodes have each been listed (at least once) within `timeout`."""
        deadline = time.monotonic() + timeout
        return all(
            self._stores[r.name].synced.wait(max(0.0, deadline - time.monotonic())) for r in (PODS, NODES)
        )

    def heard_within(self, seconds: float) -> bool:
        """Whether the cluster's API server sent a list or a watch event (of any resource watched
        here), or answered a request of ours (``answered``), in the last ``seconds``, with no watch
        failed since: proof that it answered then. A silent watch proves nothing, whether the
        cluster is quiet or the network dropped it."""
        heard = self._heard_at
        return heard is not None and time.monotonic() - heard <= seconds

    def answered(self) -> None:
        """A request of ours to the cluster's API server was answered just now: as much proof that
        it answers as a watch event (``heard_within``)."""
        self._heard_at = time.monotonic()

    @property
    def changes(self) -> int:
        """Lists and watch events applied so far, of any resource watched here. Read it before
        reading the view: if it is the same later, the view is the same."""
        with self._lock:
            return self._changes

    @property
    def problem(self) -> str:
        """Why the last list or watch of pods or nodes failed; "" while they work."""
        return "; ".join(self._stores[r.name].problem for r in (PODS, NODES) if self._stores[r.name].problem)

    def storage(self, timeout: float) -> StorageState | None:
        """The claims, volumes, storage classes and CSINodes as last seen, their watches started on
        the first call; None while any of them is not listed yet (not within `timeout`, or not
        allowed): the caller then reads what it needs directly."""
        with self._lock:
            start = not self._storage_started
            self._storage_started = True
        if start:
            for resource in STORAGE:
                threading.Thread(
                    target=self._run,
                    args=(resource,),
                    name=f"inform-{resource.kind}-{self.name}",
                    daemon=True,
                ).start()
        deadline = time.monotonic() + timeout
        for resource in STORAGE:
            store = self._stores[resource.name]
            while not store.synced.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                if store.problem or time.monotonic() >= deadline:  # refused (RBAC) or slow: read directly
                    return None
        with self._lock:
            raw = {r.kind: {k: v.raw for k, v in self._stores[r.name].objects.items()} for r in STORAGE}
        return StorageState(raw[CLAIMS.kind], raw[VOLUMES.kind], raw[CLASSES.kind], raw[CSI_NODES.kind])

    def labelled(self, kind: str, label_selector: str, timeout: float) -> list[Json] | None:
        """The objects of ``kind`` that ``label_selector`` selects, as last seen, their watch
        started on the first call; None while they are not listed yet (not within ``timeout``) or
        their watch is failing: the caller then lists them itself."""
        resource = _Resource(kind, _namespaced_key, ObjectView, label_selector)
        with self._lock:
            store = self._stores.get(resource.name)
            start = store is None
            if store is None:
                store = self._stores[resource.name] = _Store()
        if start:
            threading.Thread(
                target=self._run, args=(resource,), name=f"inform-{resource.name}-{self.name}", daemon=True
            ).start()
        self.last_read = time.monotonic()
        if not store.synced.wait(timeout) or store.problem:
            return None
        with self._lock:
            return [view.raw for view in store.objects.values()]

    def snapshot(self) -> tuple[list[Pod], list[Node]]:
        """(pods, nodes) as last seen (read-only views, shared between reads)."""
        self.last_read = time.monotonic()
        with self._lock:
            return (
                list(self._stores[PODS.name].objects.values()),
                list(self._stores[NODES.name].objects.values()),
            )

    def pod(self, uid: str) -> Pod | None:
        with self._lock:
            return self._stores[PODS.name].objects.get(uid)

    def wait_for_pods(self, settled: Callable[[Callable[[str], Pod | None]], bool], timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until `settled(pod_of_uid)` holds for the pods as the watch
        delivers them: a change made a moment ago is usually a few milliseconds behind."""
        deadline = time.monotonic() + timeout
        with self._lock:
            pods = self._stores[PODS.name].objects
            while not settled(pods.get):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def put_pod(self, obj: Json) -> None:
        """Record a pod read directly (newer than what the watch delivered so far)."""
        self._apply(PODS, "MODIFIED", obj)

    # --- the watch loop ----------------------------------------------------------------------------
    def _run(self, resource: _Resource) -> None:
        store = self._stores[resource.name]
        failures = 0
        while not self._stop.is_set():
            try:
                api = self._api()
                if not store.resource_version:
                    self._list(api, resource)
                for event_type, obj in api.watch(
                    resource.kind,
                    resource_version=store.resource_version,
                    timeout_seconds=WATCH_SECONDS,
                    label_selector=resource.label_selector,
                ):
                    if self._stop.is_set():
                        return
                    self._apply(resource, event_type, obj)
                failures = 0
            except Gone:
                store.resource_version = ""  # compacted away: list again
            except WatchBroken as broken:
                self._heard_at = None  # what the broken stream delivered proves nothing about now
                # A streaming watch cut off (load balancers end long connections): watch again from
                # the version held, without counting a failure or saying the cluster is down.
                logger.debug("%s of %s: %s", resource.kind, self.name, broken)
                self._stop.wait(_BACKOFF_SECONDS[0])
            except (ClusterUnreachable, ClusterRefused, ValueError) as error:
                self._heard_at = None
                store.problem = str(error) or type(error).__name__
                logger.info("watching %s of %s failed: %s", resource.kind, self.name, store.problem)
                self._stop.wait(_BACKOFF_SECONDS[min(failures, len(_BACKOFF_SECONDS) - 1)])
                failures += 1
            except Exception as error:  # any credential problem: keep trying, say why
                self._heard_at = None
                store.problem = str(error) or type(error).__name__
                self._stop.wait(_BACKOFF_SECONDS[-1])

    def _list(self, api: ClusterApi, resource: _Resource) -> None:
        objects: dict[str, Any] = {}
        version = ""
        for page in api.pages(resource.kind, label_selector=resource.label_selector):
            for item in page.get("items") or ():
                objects[resource.key(item)] = resource.keep(item)
            version = str((page.get("metadata") or {}).get("resourceVersion") or "")
        store = self._stores[resource.name]
        with self._lock:
            store.objects = objects
            store.resource_version = version
            self._changes += 1
        self._heard_at = time.monotonic()
        store.problem = ""
        store.synced.set()

    def _apply(self, resource: _Resource, event_type: str, obj: Json) -> None:
        store = self._stores[resource.name]
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        with self._lock:
            if event_type == "DELETED":
                store.objects.pop(resource.key(obj), None)
            elif event_type in ("ADDED", "MODIFIED"):
                store.objects[resource.key(obj)] = resource.keep(obj)
            if event_type in ("ADDED", "MODIFIED", "DELETED"):
                self._changes += 1
            if version and event_type != "ERROR":
                store.resource_version = version
            self._lock.notify_all()
        if event_type != "ERROR":
            self._heard_at = time.monotonic()
        store.problem = ""


class InformerRegistry:
    """This process's informers, one per cluster and credentials; idle ones are stopped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._informers: dict[str, tuple[object, ClusterInformer]] = {}
        self._reaped_at = time.monotonic()

    def get(
        self, cluster_id: str, fingerprint: object, name: str, api: Callable[[], ClusterApi]
    ) -> ClusterInformer:
        """The cluster's informer, started if needed. A new `fingerprint` (compared by equality: the
        cluster was reconnected elsewhere or with other credentials) replaces the old informer."""
        stale: list[ClusterInformer] = []
        with self._lock:
            known = self._informers.get(cluster_id)
            if known is not None and (known[0] != fingerprint or known[1].stopped):
                stale.append(known[1])
                known = None
            if known is None:
                informer = ClusterInformer(name, api)
                informer.start()
                self._informers[cluster_id] = (fingerprint, informer)
            else:
                informer = known[1]
            stale.extend(self._reap_idle(except_id=cluster_id))
        for old in stale:
            old.stop()
        return informer

    def _reap_idle(self, except_id: str) -> Iterator[ClusterInformer]:
        now = time.monotonic()
        if now - self._reaped_at < REAP_SECONDS:
            return
        self._reaped_at = now
        cutoff = now - IDLE_SECONDS
        for cluster_id, (_, informer) in list(self._informers.items()):
            if cluster_id != except_id and informer.last_read < cutoff:
                del self._informers[cluster_id]
                yield informer

    def stop_all(self) -> None:
        with self._lock:
            informers = [informer for _, informer in self._informers.values()]
            self._informers.clear()
        for informer in informers:
            informer.stop()

    def running(self) -> Mapping[str, ClusterInformer]:
        with self._lock:
            return {cluster_id: informer for cluster_id, (_, informer) in self._informers.items()}


registry = InformerRegistry()


def stop_all_informers() -> None:
    """Stop every informer of this process (tests between cases; a worker shutting down)."""
    with suppress(Exception):
        registry.stop_all()
