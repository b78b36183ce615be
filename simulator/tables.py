"""`meta.k8s.io/v1` Table responses, so `kubectl get` prints the usual columns (STATUS, READY, ...).

kubectl asks for them with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Cells follow
kubectl's printers for the kinds it shows most; other kinds get NAME and AGE.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from simulator.clock import parse_timestamp
from simulator.resources import ResourceType
from simulator.selectors import selector_to_string
from simulator.store import JsonObject

Column = tuple[str, str, int]  # name, type, priority (1 = only with -o wide)


def human_duration(seconds: float) -> str:
    """kubectl's duration.HumanDuration, e.g. 45s, 3m10s, 5h, 12d."""
    seconds = max(0, int(seconds))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    return f"{days // 365}y{days % 365}d"


def _age(obj: JsonObject, now: float) -> str:
    created = obj["metadata"].get("creationTimestamp")
    return human_duration(now - parse_timestamp(created)) if created else "<unknown>"


def _condition(obj: JsonObject, condition_type: str) -> str | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == condition_type:
            status: str = condition.get("status", "Unknown")
            return status
    return None


def _node_row(node: JsonObject, now: float) -> list[Any]:
    ready = _condition(node, "Ready")
    status = {"True": "Ready", "False": "NotReady"}.get(ready or "", "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")) or [
        "<none>"
    ]
    info = (node.get("status") or {}).get("nodeInfo") or {}
    addresses = {a.get("type"): a.get("address") for a in (node.get("status") or {}).get("addresses") or ()}
    return [
        node["metadata"]["name"],
        status,
        ",".join(roles),
        _age(node, now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _pod_row(pod: JsonObject, now: float) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    reason = status.get("reason") or status.get("phase", "Unknown")
    for container_status in statuses:
        waiting = (container_status.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    if pod["metadata"].get("deletionTimestamp"):
        reason = "Terminating"
    return [
        pod["metadata"]["name"],
        f"{ready}/{len(spec.get('containers') or [])}",
        reason,
        restarts,
        _age(pod, now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _deployment_row(deployment: JsonObject, now: float) -> list[Any]:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [
        deployment["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(deployment, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        selector_to_string(spec.get("selector")),
    ]


def _replicaset_row(replicaset: JsonObject, now: float) -> list[Any]:
    spec, status = replicaset.get("spec") or {}, replicaset.get("status") or {}
    return [
        replicaset["metadata"]["name"],
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(replicaset, now),
    ]


def _job_row(job: JsonObject, now: float) -> list[Any]:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    if _condition(job, "Complete") == "True":
        state = "Complete"
    elif _condition(job, "Failed") == "True":
        state = "Failed"
    else:
        state = "Running"
    duration = ""
    if status.get("startTime"):
        end = parse_timestamp(status["completionTime"]) if status.get("completionTime") else now
        duration = human_duration(end - parse_timestamp(status["startTime"]))
    return [
        job["metadata"]["name"],
        state,
        f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}",
        duration,
        _age(job, now),
    ]


def _namespace_row(namespace: JsonObject, now: float) -> list[Any]:
    return [
        namespace["metadata"]["name"],
        (namespace.get("status") or {}).get("phase", ""),
        _age(namespace, now),
    ]


def _service_row(service: JsonObject, now: float) -> list[Any]:
    spec = service.get("spec") or {}
    ports = (
        ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or ()) or "<none>"
    )
    return [
        service["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        "<none>",
        ports,
        _age(service, now),
    ]


def _event_row(event: JsonObject, now: float) -> list[Any]:
    last = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"].get("creationTimestamp")
    involved = event.get("involvedObject") or {}
    return [
        human_duration(now - parse_timestamp(last)) if last else "<unknown>",
        event.get("type", ""),
        event.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        event.get("message", ""),
    ]


def _pdb_row(budget: JsonObject, now: float) -> list[Any]:
    spec, status = budget.get("spec") or {}, budget.get("status") or {}
    return [
        budget["metadata"]["name"],
        spec.get("minAvailable", "N/A"),
        spec.get("maxUnavailable", "N/A"),
        status.get("disruptionsAllowed", 0),
        _age(budget, now),
    ]


def _default_row(obj: JsonObject, now: float) -> list[Any]:
    return [obj["metadata"]["name"], _age(obj, now)]


_PRINTERS: dict[str, tuple[Sequence[Column], Callable[[JsonObject, float], list[Any]]]] = {
    "nodes": (
        [
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        _node_row,
    ),
    "pods": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        _pod_row,
    ),
    "deployments.apps": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        _deployment_row,
    ),
    "replicasets.apps": (
        [
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
        ],
        _replicaset_row,
    ),
    "jobs.batch": (
        [
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            ("Age", "string", 0),
        ],
        _job_row,
    ),
    "namespaces": ([("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)], _namespace_row),
    "services": (
        [
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
        ],
        _service_row,
    ),
    "events": (
        [
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        _event_row,
    ),
    "poddisruptionbudgets.policy": (
        [
            ("Name", "string", 0),
            ("Min Available", "string", 0),
            ("Max Unavailable", "string", 0),
            ("Allowed Disruptions", "integer", 0),
            ("Age", "string", 0),
        ],
        _pdb_row,
    ),
}
_DEFAULT_PRINTER: tuple[Sequence[Column], Callable[[JsonObject, float], list[Any]]] = (
    [("Name", "string", 0), ("Age", "string", 0)],
    _default_row,
)


def wants_table(accept_header: str | None) -> bool:
    return bool(accept_header) and "as=Table" in (accept_header or "")


def column_definitions(resource: ResourceType) -> list[JsonObject]:
    columns, _ = _PRINTERS.get(resource.key, _DEFAULT_PRINTER)
    return [
        {
            "name": name,
            "type": kind,
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": priority,
        }
        for name, kind, priority in columns
    ]


def table_row(resource: ResourceType, obj: JsonObject, now: float) -> JsonObject:
    _, printer = _PRINTERS.get(resource.key, _DEFAULT_PRINTER)
    meta = obj["metadata"]
    partial = {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {k: v for k, v in meta.items() if k != "managedFields"},
    }
    return {"cells": printer(obj, now), "object": partial}


def table(
    resource: ResourceType,
    objects: Sequence[JsonObject],
    now: float,
    resource_version: str,
    *,
    with_columns: bool = True,
) -> JsonObject:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions(resource) if with_columns else [],
        "rows": [table_row(resource, obj, now) for obj in objects],
    }
