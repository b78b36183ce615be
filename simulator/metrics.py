"""The resource metrics API (`metrics.k8s.io/v1beta1`), as metrics-server serves it, from what the
simulated pods use.

metrics-server scrapes each kubelet's CPU and memory of every running container and serves the
latest window: `PodMetrics` (per container) for pods that are running on a node, `NodeMetrics`
for nodes; `get` and `list` only (no watch), label selectors, and a `NotFound` for a pod that
has no metrics (pending, finished, or not there). CPU is reported in nanocores (`"123456789n"`),
memory in kibibytes (`"2048Ki"`), as metrics-server formats them.

What a simulated container uses: its annotation `simulator.nodeless.io/usage` when set, a JSON
object `{"<container>": {"cpu": "250m", "memory": "300Mi"}}` (tests and replays set what a
workload really does); otherwise a steady share of its request that depends on the pod and the
container (CPU 15–65 %, memory 35–80 %), with a slow swing over simulated time, and a small
floor for containers that request nothing. A node uses what its pods use plus its system
daemons' share.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from simulator.errors import ApiError
from simulator.quantity import container_requests, parse_quantity, parse_resource_list
from simulator.resources import NODES, POD_METRICS, PODS, ResourceType
from simulator.selectors import Selector
from simulator.store import ObjectStore

GROUP_VERSION = "metrics.k8s.io/v1beta1"
USAGE_ANNOTATION = "simulator.nodeless.io/usage"
WINDOW = "15s"  # metrics-server's default --metric-resolution
FLOOR_CPU = 0.001  # cores: a container that requests nothing still uses a little
FLOOR_MEMORY = 8 * 2**20  # bytes
SWING_PERIOD_SECONDS = 3600.0
NODE_SYSTEM_CPU_SHARE = 0.04  # kubelet, container runtime, kube-proxy
NODE_SYSTEM_MEMORY_SHARE = 0.08


def _share(key: str, low: float, high: float) -> float:
    digest = hashlib.sha256(key.encode()).digest()
    return low + (high - low) * int.from_bytes(digest[:4], "big") / 2**32


def _cpu(cores: float) -> str:
    return f"{max(0, round(cores * 1e9))}n"


def _memory(num_bytes: float) -> str:
    return f"{max(0, int(num_bytes // 1024))}Ki"


def container_usage(pod: Mapping[str, Any], container: Mapping[str, Any], now: float) -> tuple[float, float]:
    """(cores, bytes) a running container uses at `now`."""
    metadata = pod.get("metadata") or {}
    name = str(container.get("name", ""))
    declared = (metadata.get("annotations") or {}).get(USAGE_ANNOTATION)
    if declared:
        try:
            usage = (json.loads(declared) or {}).get(name) or {}
            return parse_quantity(usage.get("cpu", 0)), parse_quantity(usage.get("memory", 0))
        except (ValueError, AttributeError):
            pass  # an unreadable annotation: the container behaves as if it had none
    requests = container_requests(container)
    key = f"{metadata.get('uid', '')}/{name}"
    phase = _share(key + "/phase", 0.0, 2 * math.pi)
    swing = 1.0 + 0.1 * math.sin(2 * math.pi * now / SWING_PERIOD_SECONDS + phase)
    cpu = requests.get("cpu", 0.0) * _share(key + "/cpu", 0.15, 0.65) * swing
    memory = requests.get("memory", 0.0) * _share(key + "/memory", 0.35, 0.80)
    return max(cpu, FLOOR_CPU), max(memory, FLOOR_MEMORY)


def _timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _measured(pod: Mapping[str, Any]) -> bool:
    """Running on a node, as metrics-server reports pods (the kubelet's summary has it)."""
    return (
        bool((pod.get("spec") or {}).get("nodeName")) and (pod.get("status") or {}).get("phase") == "Running"
    )


def pod_metrics(pod: Mapping[str, Any], now: float) -> dict[str, Any]:
    metadata = pod.get("metadata") or {}
    containers = []
    for container in (pod.get("spec") or {}).get("containers") or ():
        cpu, memory = container_usage(pod, container, now)
        containers.append(
            {"name": container.get("name", ""), "usage": {"cpu": _cpu(cpu), "memory": _memory(memory)}}
        )
    return {
        "kind": "PodMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": {
            "name": metadata.get("name", ""),
            "namespace": metadata.get("namespace", ""),
            "creationTimestamp": _timestamp(now),
            "labels": dict(metadata.get("labels") or {}),
        },
        "timestamp": _timestamp(now),
        "window": WINDOW,
        "containers": containers,
    }


def node_metrics(node: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], now: float) -> dict[str, Any]:
    metadata = node.get("metadata") or {}
    allocatable = parse_resource_list((node.get("status") or {}).get("allocatable"))
    cpu = allocatable.get("cpu", 0.0) * NODE_SYSTEM_CPU_SHARE
    memory = allocatable.get("memory", 0.0) * NODE_SYSTEM_MEMORY_SHARE
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or ():
            used_cpu, used_memory = container_usage(pod, container, now)
            cpu, memory = cpu + used_cpu, memory + used_memory
    return {
        "kind": "NodeMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": {
            "name": metadata.get("name", ""),
            "creationTimestamp": _timestamp(now),
            "labels": dict(metadata.get("labels") or {}),
        },
        "timestamp": _timestamp(now),
        "window": WINDOW,
        "usage": {"cpu": _cpu(cpu), "memory": _memory(memory)},
    }


def _not_found(resource: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.plural}.{resource.group} "{name}" not found')


def _running_pods(store: ObjectStore, namespace: str | None = None) -> list[dict[str, Any]]:
    return [s.obj for s in store.list(PODS, namespace).items if _measured(s.obj)]


def serve(
    store: ObjectStore, resource: ResourceType, namespace: str | None, name: str, labels: Selector, now: float
) -> dict[str, Any]:
    """The answer to a get or list of `resource` (POD_METRICS or NODE_METRICS)."""
    if resource is POD_METRICS:
        pods = _running_pods(store, namespace)
        if name:
            found = [p for p in pods if (p.get("metadata") or {}).get("name") == name]
            if not found:
                raise _not_found(resource, name)
            return pod_metrics(found[0], now)
        items = [
            pod_metrics(p, now) for p in pods if labels.matches((p.get("metadata") or {}).get("labels") or {})
        ]
        return {"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
    nodes = [s.obj for s in store.list(NODES).items]
    by_node: dict[str, list[dict[str, Any]]] = {}
    for pod in _running_pods(store):
        by_node.setdefault(str(pod["spec"]["nodeName"]), []).append(pod)
    if name:
        found = [n for n in nodes if (n.get("metadata") or {}).get("name") == name]
        if not found:
            raise _not_found(resource, name)
        return node_metrics(found[0], by_node.get(name, []), now)
    items = [
        node_metrics(n, by_node.get(str(n["metadata"]["name"]), []), now)
        for n in nodes
        if labels.matches((n.get("metadata") or {}).get("labels") or {})
    ]
    return {"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
