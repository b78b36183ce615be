"""What is kept of a cluster's latest observation for the pages and previews that must not call it.

`summarize` turns a `ClusterState` into plain JSON (pure: no Django, no I/O). Pods that schedule
alike are grouped with a count — a 2,000-replica Deployment is one entry — so the summary stays small
whatever the cluster's size, and a preview can still plan every pod: `expand_pods` gives them back.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from engines.kube.cluster import ClusterState, ObservedNode
from engines.kube.labels import HOSTNAME, WORKLOAD_ID
from engines.kube.nodes import Node
from engines.kube.pods import Pod, try_requests
from engines.kube.quantity import GIB, MIB
from engines.kube.resources import Resources

Json = dict[str, Any]
VERSION = 1
POD_ROWS = 100  # the cluster page's pod table
PLANNABLE_PODS = 2000  # pods a preview plans, at most (as many as the preview ever planned)
MANAGED_NODES = 500  # free room of nodes Nodeless manages, for previews
# Identity, bookkeeping and placement: what makes two pods of one Deployment differ, not how they schedule.
_IDENTITY = ("name", "generateName", "uid", "resourceVersion", "creationTimestamp", "ownerReferences")
# Pod listings put what needs attention first; finished pods pile up and say little about now.
_PHASE_ORDER = {"Pending": 0, "Running": 1, "Unknown": 2, "Failed": 3, "Succeeded": 4}
_NODE_ID_LABELS = (HOSTNAME, "nodeless.io/node-id")


def _vector(resources: Resources) -> list[int]:
    return [
        resources.cpu_millis,
        resources.memory_mib,
        resources.gpus,
        resources.ephemeral_mib,
        resources.pods,
    ]


def resources_from(vector: Iterable[int]) -> Resources:
    return Resources(*vector)


def _totals(resources: Resources) -> dict[str, float]:
    return {
        "cpu": round(resources.cpu_millis / 1000, 3),
        "memory_gib": round(resources.memory_mib * MIB / GIB, 3),
        "gpu": resources.gpus,
        "pods": resources.pods,
    }


def _schedulable(node: Node) -> bool:
    return (
        node.ready
        and not node.unschedulable
        and not any(t.effect.value in ("NoSchedule", "NoExecute") for t in node.taints)
    )


def _node_groups(nodes: Iterable[ObservedNode]) -> list[Json]:
    groups: dict[tuple[Any, ...], Json] = {}
    for observed in nodes:
        node = observed.node
        capacity = node.capacity_type
        key = (node.instance_type, node.zone, capacity, tuple(_vector(node.allocatable)), _schedulable(node))
        group = groups.setdefault(
            key,
            {
                "instance_type": node.instance_type,
                "zone": node.zone,
                "capacity_type": capacity.value if capacity else "",
                "allocatable": _vector(node.allocatable),
                "schedulable": _schedulable(node),
                "count": 0,
            },
        )
        group["count"] += 1
    return sorted(groups.values(), key=lambda g: (-g["count"], g["instance_type"]))


def _pod_row(pod: Pod) -> Json:
    requests = try_requests(pod)
    reason = next(
        (
            str(c.get("message", ""))
            for c in pod.status.get("conditions") or ()
            if c.get("type") == "PodScheduled" and c.get("status") == "False"
        ),
        "",
    )
    return {
        "namespace": pod.namespace,
        "name": pod.name,
        "phase": pod.phase,
        "node": pod.node_name,
        "cpu_millis": requests.cpu_millis if requests else None,
        "memory_mib": requests.memory_mib if requests else None,
        "reason": reason,
    }


def _pod_rows(state: ClusterState) -> tuple[list[Json], int]:
    """The first POD_ROWS pods in page order, and how many there are in all."""
    pods = [*state.pending, *state.bound_pods]
    pods.sort(key=lambda pod: (_PHASE_ORDER.get(pod.phase, 2), pod.namespace, pod.name))
    return [_pod_row(pod) for pod in pods[:POD_ROWS]], len(pods)


def _scheduling_form(pod: Pod) -> Json:
    """The pod without what tells replicas apart: identical forms schedule identically."""
    metadata = {k: v for k, v in pod.metadata.items() if k not in _IDENTITY}
    spec = {k: v for k, v in pod.spec.items() if k != "nodeName"}
    return {"metadata": metadata, "spec": spec}


def _pod_groups(pods: Iterable[Pod], limit: int) -> list[Json]:
    groups: dict[str, Json] = {}
    for taken, pod in enumerate(pods):
        if taken >= limit:
            break
        form = _scheduling_form(pod)
        key = json.dumps(form, sort_keys=True, default=str)
        group = groups.setdefault(key, {"pod": form, "names": [], "count": 0})
        group["count"] += 1
        if len(group["names"]) < 3:
            group["names"].append(pod.name)
    return list(groups.values())


def expand_pods(groups: Iterable[Json]) -> Iterator[Pod]:
    """The pods of `_pod_groups`, each with a uid of its own (the planner tells pods apart by uid)."""
    for index, group in enumerate(groups):
        names = group.get("names") or ["pod"]
        for copy in range(int(group["count"])):
            metadata = {
                **group["pod"]["metadata"],
                "name": names[copy] if copy < len(names) else f"{names[0]}-{copy}",
                "uid": f"observed-{index}-{copy}",
            }
            yield Pod({"metadata": metadata, "spec": group["pod"]["spec"], "status": {}})


def _managed_free(nodes: Iterable[ObservedNode]) -> list[Json]:
    free: list[Json] = []
    for observed in nodes:
        node = observed.node
        if not (node.ready and not node.unschedulable):
            continue
        capacity = node.capacity_type
        free.append(
            {
                "name": node.name,
                "instance_type": node.instance_type,
                "zone": node.zone,
                "capacity_type": capacity.value if capacity else "",
                "labels": {k: v for k, v in node.labels.items() if k not in _NODE_ID_LABELS},
                "taints": list(node.raw_taints),
                "free": _vector(observed.free()),
            }
        )
    free.sort(key=lambda entry: -int(entry["free"][0]))
    return free[:MANAGED_NODES]


def _requests_by_workload(state: ClusterState) -> tuple[Json, list[int]]:
    """What every unfinished pod asks for (bound or waiting), in all and per federated workload; a
    pod whose requests cannot be read holds its slot only."""
    by_workload: dict[str, Resources] = {}
    total = Resources()
    for pod in [*state.pending, *state.bound_pods]:
        if pod.is_finished:
            continue
        requests = try_requests(pod) or Resources(pods=1)
        total = total + requests
        owner = pod.labels.get(WORKLOAD_ID)
        if owner:
            by_workload[owner] = by_workload.get(owner, Resources()) + requests
    return {owner: _vector(r) for owner, r in by_workload.items()}, _vector(total)


def summarize(state: ClusterState, *, managed: Collection[str] = ()) -> Json:
    """The summary kept of `state`. `managed`: names of the nodes Nodeless launched."""
    nodes = list(state.nodes.values())
    allocatable, requested = Resources(), Resources()
    for node in nodes:
        allocatable = allocatable + node.node.allocatable
        requested = requested + node.requested()
    managed_nodes = [node for node in nodes if node.name in managed]
    workload_requests, requests_total = _requests_by_workload(state)
    pod_rows, listed = _pod_rows(state)
    return {
        "version": VERSION,
        "nodes": {"total": len(nodes), "ready": sum(1 for n in nodes if n.node.ready)},
        "pods": {"total": state.pod_count, "pending": len(state.pending)},
        "allocatable": _totals(allocatable),
        "requested": _totals(requested),
        "node_groups": _node_groups(nodes),
        "pod_rows": pod_rows,
        "pod_rows_total": listed,
        "pending": _pod_groups((p for p in state.pending if not p.is_daemonset), PLANNABLE_PODS),
        "managed_pods": _pod_groups(
            (pod for node in managed_nodes for pod in node.workload_pods), PLANNABLE_PODS
        ),
        "managed_free": _managed_free(managed_nodes),
        "daemonset_overhead": _vector(state.daemonset_overhead),
        "workload_requests": workload_requests,
        "requests_total": requests_total,
    }
