"""What is kept of a cluster's latest observation for the pages and previews that must not call it.

`summarize` turns a `ClusterState` into plain JSON (pure: no Django, no I/O). Pods that schedule
alike are grouped with a count — a 2,000-replica Deployment is one entry — so the summary stays small
whatever the cluster's size, and a preview can still plan every pod: `expand_pods` gives them back.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from engines.kube.cluster import ClusterState, ObservedNode
from engines.kube.labels import HOSTNAME, WORKLOAD_ID
from engines.kube.nodes import Node
from engines.kube.pods import FINISHED_PHASES, Pod, try_requests
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


def _first_rows(by_phase: dict[int, list[Pod]]) -> list[Json]:
    """The first POD_ROWS pods in page order. Only the phases that make the first rows are sorted (a
    cluster holds 50,000 running pods and the page shows 100)."""
    first: list[Pod] = []
    for order in sorted(by_phase):
        room = POD_ROWS - len(first)
        if room <= 0:
            break
        first += heapq.nsmallest(room, by_phase[order], key=lambda pod: (pod.namespace, pod.name))
    return [_pod_row(pod) for pod in first]


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


def _held(pod: Pod) -> Resources:
    """What an unfinished pod holds: its requests, or its slot alone when they cannot be read."""
    return try_requests(pod) or Resources(pods=1)


def _pods_pass(state: ClusterState) -> tuple[dict[int, list[Pod]], dict[str, Resources], Resources]:
    """One look at every pod (50,000 of them on a big cluster): pods by page order of their phase,
    what each federated workload's unfinished pods hold, and what the waiting and orphaned pods hold
    (the nodes' own pods are summed by the nodes)."""
    by_phase: dict[int, list[Pod]] = {}
    by_workload: dict[str, Resources] = {}
    unplaced = Resources()
    for pod in state.pending:
        by_phase.setdefault(_PHASE_ORDER.get(pod.phase, 2), []).append(pod)
        unplaced = unplaced + _held(pod)
    for pod in state.orphans:
        if not pod.is_finished:
            unplaced = unplaced + _held(pod)
    for pod in [*state.pending, *state.bound_pods]:
        phase = pod.phase
        if pod.node_name:
            by_phase.setdefault(_PHASE_ORDER.get(phase, 2), []).append(pod)
        owner = pod.labels.get(WORKLOAD_ID)
        if owner and phase not in FINISHED_PHASES:
            by_workload[owner] = by_workload.get(owner, Resources()) + _held(pod)
    return by_phase, by_workload, unplaced


def summarize(state: ClusterState, *, managed: Collection[str] = ()) -> Json:
    """The summary kept of `state`. `managed`: names of the nodes Nodeless launched."""
    nodes = list(state.nodes.values())
    allocatable, requested = Resources(), Resources()
    for node in nodes:
        allocatable = allocatable + node.node.allocatable
        requested = requested + node.requested()
    managed_nodes = [node for node in nodes if node.name in managed]
    by_phase, by_workload, unplaced = _pods_pass(state)
    return {
        "version": VERSION,
        "nodes": {"total": len(nodes), "ready": sum(1 for n in nodes if n.node.ready)},
        "pods": {"total": state.pod_count, "pending": len(state.pending)},
        "allocatable": _totals(allocatable),
        "requested": _totals(requested),
        "node_groups": _node_groups(nodes),
        "pod_rows": _first_rows(by_phase),
        "pod_rows_total": sum(len(pods) for pods in by_phase.values()),
        "pending": _pod_groups((p for p in state.pending if not p.is_daemonset), PLANNABLE_PODS),
        "managed_pods": _pod_groups(
            (pod for node in managed_nodes for pod in node.workload_pods), PLANNABLE_PODS
        ),
        "managed_free": _managed_free(managed_nodes),
        "daemonset_overhead": _vector(state.daemonset_overhead),
        "workload_requests": {owner: _vector(held) for owner, held in by_workload.items()},
        "requests_total": _vector(requested + unplaced),
    }
