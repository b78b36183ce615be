"""Subresources and events: pods/binding, pods/eviction, the scale subresource, core/v1 Events.

Functions of a `ClusterApi` (which exposes them as methods), kept apart to keep files small.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from simulator.api_support import DeleteOptions, set_condition
from simulator.clock import Clock, format_timestamp
from simulator.disruption import budget_selects, budget_status, can_ignore_budget
from simulator.errors import ApiError, conflict, internal, too_many_requests
from simulator.events import EventCorrelator, RecordedEvent
from simulator.resources import EVENTS, PDBS, PODS, ResourceType
from simulator.selectors import selector_to_string
from simulator.store import JsonObject, ObjectStore, StoredObject


class ClusterApi(Protocol):
    """What these subresources use of `simulator.api.ClusterApi` (which calls them): named here so the
    two modules do not import each other."""

    store: ObjectStore
    clock: Clock
    record_events: bool
    event_correlator: EventCorrelator

    def update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        mutate: Callable[[JsonObject], JsonObject | None],
        *,
        subresource: str | None = ...,
    ) -> StoredObject: ...

    def create(
        self,
        resource: ResourceType,
        namespace: str,
        body: JsonObject,
        *,
        keep_status: bool = ...,
        dry_run: bool = ...,
    ) -> StoredObject: ...

    def delete(
        self, resource: ResourceType, namespace: str, name: str, options: DeleteOptions | None = ...
    ) -> StoredObject: ...

    def commit_update(
        self,
        resource: ResourceType,
        current: StoredObject,
        new: JsonObject,
        *,
        subresource: str | None,
        expected_rv: str | None,
        dry_run: bool = ...,
    ) -> StoredObject: ...

    def patched(self, target: JsonObject, document: Any, content_type: str) -> Any: ...

    def get_scale(self, resource: ResourceType, namespace: str, name: str) -> JsonObject: ...


def bind(
    api: ClusterApi, namespace: str, pod_name: str, node_name: str, *, expected_uid: str | None = None
) -> StoredObject:
    """pods/binding: set `spec.nodeName` once, with condition PodScheduled=True."""
    with api.store.lock:
        current = api.store.get(PODS, namespace, pod_name)
        meta = current.obj["metadata"]
        if expected_uid and expected_uid != meta["uid"]:
            raise conflict("pods/binding", pod_name, "", "the UID in the binding does not match the pod")
        if meta.get("deletionTimestamp"):
            raise conflict(
                "pods/binding",
                pod_name,
                "",
                f"pod {pod_name} is being deleted, cannot be assigned to a host",
            )
        assigned = (current.obj.get("spec") or {}).get("nodeName")
        if assigned:
            raise conflict(
                "pods/binding", pod_name, "", f'pod {pod_name} is already assigned to node "{assigned}"'
            )
        pod = current.copy()
        pod["spec"]["nodeName"] = node_name
        set_condition(pod, "PodScheduled", "True", now=api.clock.now())
        return api.store.replace(PODS, pod)


def evict(api: ClusterApi, namespace: str, pod_name: str, options: DeleteOptions | None = None) -> None:
    """pods/eviction: delete the pod (gracefully, with the Eviction's `deleteOptions`) unless that
    would break its PodDisruptionBudget."""
    with api.store.lock:
        pod = api.store.get(PODS, namespace, pod_name).obj
        if not can_ignore_budget(pod):
            budgets = [b.obj for b in api.store.list(PDBS, namespace).items if budget_selects(b.obj, pod)]
            if len(budgets) > 1:
                raise internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
                )
            if budgets:
                pods = [p.obj for p in api.store.list(PODS, namespace).items]
                status = budget_status(budgets[0], pods)
                if status.disruptions_allowed <= 0:
                    budget_name = budgets[0]["metadata"]["name"]
                    raise too_many_requests(
                        "Cannot evict pod as it would violate the pod's disruption budget.",
                        [
                            {
                                "reason": "DisruptionBudget",
                                "message": f"The disruption budget {budget_name} needs {status.desired_healthy} "
                                f"healthy pods and has {status.current_healthy} currently",
                            }
                        ],
                    )
        api.delete(PODS, namespace, pod_name, options)


def get_scale(api: ClusterApi, resource: ResourceType, namespace: str, name: str) -> JsonObject:
    obj = api.store.get(resource, namespace, name).obj
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"].get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": selector_to_string(obj["spec"].get("selector")),
        },
    }


def patch_scale(
    api: ClusterApi,
    resource: ResourceType,
    namespace: str,
    name: str,
    scale: JsonObject | None,
    patch: tuple[bytes, str] | None = None,
) -> JsonObject:
    """PUT (a Scale body) or PATCH (raw patch + content type) of the scale subresource."""
    with api.store.lock:
        current_scale = api.get_scale(resource, namespace, name)
        if patch is not None:
            document = json.loads(patch[0] or b"null")
            scale = api.patched(current_scale, document, patch[1])
        assert scale is not None
        replicas = int((scale.get("spec") or {}).get("replicas", 0))
        expected = (scale.get("metadata") or {}).get("resourceVersion")
        current = api.store.get(resource, namespace, name)
        if patch is None and expected and expected != current.obj["metadata"]["resourceVersion"]:
            raise conflict(resource.plural, name, resource.group)
        updated = current.copy()
        updated["spec"]["replicas"] = replicas
        api.commit_update(resource, current, updated, subresource=None, expected_rv=None)
        return api.get_scale(resource, namespace, name)


# --- events ------------------------------------------------------------------------------


def record_event(
    api: ClusterApi,
    involved: JsonObject,
    reason: str,
    message: str,
    *,
    event_type: str = "Normal",
    component: str = "default-scheduler",
) -> None:
    """A core/v1 Event about `involved`, as controllers record them (`kubectl describe`), correlated
    as client-go's recorder does: repeats bump the count of the Event already written."""
    if not api.record_events:
        return
    meta = involved["metadata"]
    namespace = str(meta.get("namespace") or "default")
    now = format_timestamp(api.clock.now())
    similar_key = (component, namespace, str(meta["name"]), str(meta.get("uid", "")), event_type, reason)
    correlation = api.event_correlator.correlate(similar_key, message, api.clock.now())
    if correlation.earlier is not None:
        earlier = correlation.earlier
        earlier.count += 1

        def bump(event: JsonObject) -> None:
            event["count"] = earlier.count
            event["lastTimestamp"] = now
            event["message"] = correlation.message

        try:
            api.update(EVENTS, earlier.namespace, earlier.name, bump)
            return
        except ApiError:
            api.event_correlator.forget(correlation)
    event = {
        "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "kind": involved.get("kind", ""),
            "namespace": meta.get("namespace", ""),
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": involved.get("apiVersion", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": correlation.message,
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": event_type,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": "",
    }
    created = api.create(EVENTS, namespace, event)
    api.event_correlator.written(
        correlation, RecordedEvent(namespace, created.obj["metadata"]["name"], count=1)
    )
