"""The default scheduler: binds pending pods to Ready, schedulable nodes with room.

Each pass:
1. collect unbound pods for `default-scheduler` (through the `spec.nodeName=""` index) that no
   scheduling gate holds, highest priority first, then oldest;
2. build every node's free capacity from the requests of the pods bound to it (terminated pods
   release theirs);
3. for each pod, filter nodes (unschedulable, taints/tolerations, node selector and required node
   affinity, resources, pod count, then host ports, pod affinity and anti-affinity - its own and
   placed pods' - and topology spread, `interpod`) and bind to the least-allocated feasible node;
4. mark the rest `PodScheduled=False, reason=Unschedulable` with kube-scheduler's message, and
   record a FailedScheduling event when the message changes.
"""

from __future__ import annotations

from typing import Any

from simulator.api import ClusterApi
from simulator.api_support import set_condition
from simulator.clock import parse_timestamp
from simulator.controllers.scheduling import (
    ClusterView,
    NodeState,
    PodNeeds,
    failure_message,
    inter_pod_unfit,
    least_allocated_score,
    node_state,
    pod_needs,
    unfit_reasons,
)
from simulator.errors import ApiError
from simulator.nodes import is_node_ready
from simulator.quantity import Resources, pod_requests
from simulator.resources import NODES, PODS

SCHEDULER_NAME = "default-scheduler"
TERMINAL_PHASES = ("Succeeded", "Failed")


def feasible_nodes_to_find(total: int) -> int:
    """kube-scheduler's adaptive percentageOfNodesToScore: all nodes up to 100, then a share that
    shrinks from 50% towards 5% as the cluster grows, but never fewer than 100 nodes."""
    if total < 100:
        return total
    percentage = max(5, 50 - total // 125)
    return max(100, total * percentage // 100)


class RequestCache:
    """Parsed pod requests by uid: pod resource requests are immutable once created."""

    def __init__(self) -> None:
        self._cache: dict[str, Resources] = {}

    def requests(self, pod: dict[str, Any]) -> Resources:
        uid = pod["metadata"]["uid"]
        cached = self._cache.get(uid)
        if cached is None:
            cached = self._cache[uid] = pod_requests(pod.get("spec") or {})
        return cached

    def prune(self, live_pod_count: int, live_uids: Any) -> None:
        """Drop entries of deleted pods once the cache holds twice the live pods."""
        if len(self._cache) > 2 * live_pod_count + 1000:
            live = set(live_uids())
            self._cache = {uid: r for uid, r in self._cache.items() if uid in live}


class Scheduler:
    name = "scheduler"
    watches = frozenset({PODS.key, NODES.key})

    def __init__(self, api: ClusterApi, *, retry_seconds: float = 30.0) -> None:
        self.api = api
        self.retry_seconds = retry_seconds
        self.cache = RequestCache()
        self._next_start = 0

    def _pending(self) -> list[dict[str, Any]]:
        pending = []
        for stored in self.api.store.by_index(PODS, "spec.nodeName", ""):
            pod = stored.obj
            spec, status = pod.get("spec") or {}, pod.get("status") or {}
            if spec.get("schedulerName", SCHEDULER_NAME) != SCHEDULER_NAME:
                continue
            if pod["metadata"].get("deletionTimestamp") or status.get("phase", "Pending") != "Pending":
                continue
            if spec.get("schedulingGates"):  # kube-scheduler's PreEnqueue holds gated pods back
                continue
            pending.append(pod)
        pending.sort(
            key=lambda p: (
                -int((p.get("spec") or {}).get("priority") or 0),
                parse_timestamp(p["metadata"]["creationTimestamp"]),
                p["metadata"].get("namespace", ""),
                p["metadata"]["name"],
            )
        )
        return pending

    def _nodes(self) -> list[NodeState]:
        states = []
        for stored in self.api.store.list(NODES).items:
            node = stored.obj
            state = node_state(node, is_node_ready(node))
            for bound in self.api.store.by_index(PODS, "spec.nodeName", state.name):
                if (bound.obj.get("status") or {}).get("phase") not in TERMINAL_PHASES:
                    state.add(self.cache.requests(bound.obj), bound.obj)
            states.append(state)
        return states

    def reconcile(self, now: float) -> float | None:
        pending = self._pending()
        if not pending:
            return None
        store = self.api.store
        self.cache.prune(
            store.count(PODS), lambda: (s.obj["metadata"]["uid"] for s in store.list(PODS).items)
        )
        nodes = self._nodes()
        cluster = ClusterView.of(nodes)
        unschedulable = 0
        for pod in pending:
            needs = pod_needs(pod, self.cache.requests(pod))
            node, reasons = self._choose(needs, cluster)
            if node is not None and self._bind(pod, node):
                node.add(needs.requests, pod)
                cluster.record(pod, node)
                continue
            unschedulable += 1
            if node is not None:  # lost a race (bound or deleted meanwhile): nothing to report
                continue
            self._mark_unschedulable(pod, failure_message(len(nodes), reasons), now)
        return now + self.retry_seconds if unschedulable else None

    def _choose(self, needs: PodNeeds, cluster: ClusterView) -> tuple[NodeState | None, dict[str, list[str]]]:
        """The least-allocated feasible node, looking (like kube-scheduler's
        percentageOfNodesToScore) only until enough feasible nodes are found, starting where the
        previous pod stopped. Returns why each node failed when none fits."""
        nodes = cluster.nodes
        wanted = feasible_nodes_to_find(len(nodes))
        best: NodeState | None = None
        best_score = float("-inf")
        found = 0
        reasons: dict[str, list[str]] = {}
        for step in range(len(nodes)):
            node = nodes[(self._next_start + step) % len(nodes)]
            unfit = unfit_reasons(needs, node) or inter_pod_unfit(needs, node, cluster)
            if unfit:
                reasons[node.name] = unfit
                continue
            found += 1
            score = least_allocated_score(needs, node)
            if score > best_score or (score == best_score and best is not None and node.name < best.name):
                best, best_score = node, score
            if found >= wanted:
                self._next_start = (self._next_start + step + 1) % len(nodes)
                break
        return best, reasons

    def _bind(self, pod: dict[str, Any], node: NodeState) -> bool:
        meta = pod["metadata"]
        try:
            bound = self.api.bind(meta["namespace"], meta["name"], node.name, expected_uid=meta["uid"])
        except ApiError:
            return False  # deleted or bound by someone else meanwhile
        self.api.record_event(
            bound.obj,
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {node.name}",
        )
        return True

    def _mark_unschedulable(self, pod: dict[str, Any], message: str, now: float) -> None:
        meta = pod["metadata"]
        current = next(
            (c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == "PodScheduled"),
            None,
        )
        if (
            current is not None
            and current.get("reason") == "Unschedulable"
            and current.get("message") == message
        ):
            return

        def mark(copy: dict[str, Any]) -> None:
            set_condition(copy, "PodScheduled", "False", now=now, reason="Unschedulable", message=message)

        try:
            updated = self.api.update(PODS, meta["namespace"], meta["name"], mark, subresource="status")
        except ApiError:
            return
        self.api.record_event(updated.obj, "FailedScheduling", message, event_type="Warning")
