"""Small background duties of kube-controller-manager:

- the disruption controller keeps every PodDisruptionBudget's status current;
- pod garbage collection deletes pods bound to nodes that no longer exist;
- events older than the event TTL (one hour, as kube-apiserver's default) are deleted.
"""

from __future__ import annotations

import contextlib

from simulator.api import ClusterApi
from simulator.api_support import DeleteOptions
from simulator.clock import parse_timestamp
from simulator.controllers.workloads import update_status_if_changed
from simulator.disruption import budget_status
from simulator.errors import ApiError
from simulator.resources import EVENTS, NODES, PDBS, PODS

EVENT_TTL_SECONDS = 3600.0
EVENT_SWEEP_SECONDS = 60.0
POD_GC_SECONDS = 20.0  # kube-controller-manager's gc period for orphaned pods


class DisruptionController:
    name = "disruption-controller"
    watches = frozenset({PDBS.key, PODS.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api

    def reconcile(self, now: float) -> float | None:
        pods_by_namespace: dict[str, list[dict[str, object]]] = {}
        for stored in self.api.store.list(PDBS).items:
            budget = stored.obj
            namespace = budget["metadata"]["namespace"]
            if namespace not in pods_by_namespace:
                pods_by_namespace[namespace] = [p.obj for p in self.api.store.list(PODS, namespace).items]
            status = budget_status(budget, pods_by_namespace[namespace]).as_status(
                budget["metadata"].get("generation", 1), now, budget.get("status")
            )
            update_status_if_changed(self.api, PDBS, budget, status)
        return None


class PodGarbageCollector:
    name = "pod-garbage-collector"
    watches = frozenset({NODES.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api

    def reconcile(self, now: float) -> float | None:
        nodes = {s.obj["metadata"]["name"] for s in self.api.store.list(NODES).items}
        table = self.api.store.table(PODS)
        orphaned = [name for name in table.indexes["spec.nodeName"] if name and name not in nodes]
        for node_name in orphaned:
            for stored in self.api.store.by_index(PODS, "spec.nodeName", node_name):
                namespace, name = stored.key
                with contextlib.suppress(ApiError):  # no kubelet will confirm: force, as podgc does
                    self.api.delete(PODS, namespace, name, DeleteOptions(grace_period_seconds=0))
        return None


class EventReaper:
    name = "event-reaper"
    watches: frozenset[str] = frozenset()

    def __init__(self, api: ClusterApi, *, ttl_seconds: float = EVENT_TTL_SECONDS) -> None:
        self.api = api
        self.ttl_seconds = ttl_seconds

    def reconcile(self, now: float) -> float | None:
        for stored in self.api.store.list(EVENTS).items:
            event = stored.obj
            last = event.get("lastTimestamp") or event["metadata"].get("creationTimestamp")
            if last and now - parse_timestamp(last) > self.ttl_seconds:
                namespace, name = stored.key
                with contextlib.suppress(ApiError):
                    self.api.delete(EVENTS, namespace, name)
        return now + EVENT_SWEEP_SECONDS
