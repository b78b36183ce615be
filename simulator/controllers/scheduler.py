"""The default scheduler: binds pending pods to Ready, schedulable nodes with room.

Each pass:
1. collect unbound pods for `default-scheduler` (through the `spec.nodeName=""` index) that no
   scheduling gate holds, highest priority first, then oldest;
2. build every node's free capacity from the requests of the pods bound to it (terminated pods
   release theirs);
3. for each pod, filter nodes (unschedulable, taints/tolerations, node selector and required node
   affinity, resources, pod count, then the volume filters - claims that exist and are bound or
   wait for their first consumer, bound volumes' node affinity, attach limits (`volume_rules`) -
   then host ports, pod affinity and anti-affinity - its own and placed pods' - and topology
   spread, `interpod`) and bind to the least-allocated feasible node. A pod whose
   WaitForFirstConsumer claims are not bound yet first has them bound on the chosen node (an
   available volume there is claimed; otherwise the claim is annotated with the selected node for
   its provisioner) and is bound itself once they are, as kube-scheduler's PreBind waits;
4. mark the rest `PodScheduled=False, reason=Unschedulable` with kube-scheduler's message, and
   record a FailedScheduling event when the message changes.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    volume_unfit,
)
from simulator.controllers.volume_rules import VolumeWorld, claim_names, pre_filter_reasons, static_volume_for
from simulator.errors import ApiError
from simulator.nodes import is_node_ready
from simulator.quantity import Resources, pod_requests
from simulator.resources import (
    CSI_NODES,
    NODES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    PODS,
    STORAGE_CLASSES,
)

SCHEDULER_NAME = "default-scheduler"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
# How soon a pod whose claims are being bound on its chosen node is tried again.
VOLUME_BINDING_RETRY_SECONDS = 1.0
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
    watches = frozenset(
        {PODS.key, NODES.key, PERSISTENT_VOLUME_CLAIMS.key, PERSISTENT_VOLUMES.key, CSI_NODES.key}
    )

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
        volumes = self._volumes() if any(claim_names(pod) for pod in pending) else None
        unschedulable, waiting = 0, 0
        for pod in pending:
            needs = pod_needs(pod, self.cache.requests(pod))
            refused = pre_filter_reasons(pod, volumes) if needs.claims and volumes is not None else []
            if refused:
                unschedulable += 1
                self._mark_unschedulable(pod, _cluster_wide(len(nodes), refused[0]), now)
                continue
            node, reasons = self._choose(needs, cluster, volumes)
            if (
                node is not None
                and needs.claims
                and volumes is not None
                and not self._claims_bound(pod, node, volumes)
            ):
                waiting += 1  # PreBind: the claims are being bound on this node; the pod follows
                continue
            if node is not None and self._bind(pod, node):
                node.add(needs.requests, pod)
                cluster.record(pod, node)
                continue
            unschedulable += 1
            if node is not None:  # lost a race (bound or deleted meanwhile): nothing to report
                continue
            self._mark_unschedulable(pod, failure_message(len(nodes), reasons), now)
        if waiting:
            return now + VOLUME_BINDING_RETRY_SECONDS
        return now + self.retry_seconds if unschedulable else None

    def _volumes(self) -> VolumeWorld:
        store = self.api.store
        return VolumeWorld.of(
            (s.obj for s in store.list(PERSISTENT_VOLUME_CLAIMS).items),
            (s.obj for s in store.list(PERSISTENT_VOLUMES).items),
            (s.obj for s in store.list(STORAGE_CLASSES).items),
            (s.obj for s in store.list(CSI_NODES).items),
        )

    def _claims_bound(self, pod: dict[str, Any], node: NodeState, volumes: VolumeWorld) -> bool:
        """Whether every claim of the pod is bound; if not, start binding the unbound ones on `node`
        (claim an available volume there, or ask the provisioner for one through the claim's
        selected-node annotation) - what kube-scheduler's VolumeBinding does in PreBind."""
        namespace = pod["metadata"].get("namespace") or "default"
        bound = True
        for name in claim_names(pod):
            claim = volumes.claims[(namespace, name)]
            if (claim.get("spec") or {}).get("volumeName"):
                continue
            bound = False
            volume = static_volume_for(volumes, claim, node.labels)
            try:
                if volume is not None:
                    self.api.update(PERSISTENT_VOLUMES, "", volume["metadata"]["name"], _claim_ref(claim))
                elif (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE) != node.name:
                    self.api.update(PERSISTENT_VOLUME_CLAIMS, namespace, name, _select_node(node.name))
            except ApiError:
                continue  # changed meanwhile: the next pass reads it again
        return bound

    def _choose(
        self, needs: PodNeeds, cluster: ClusterView, volumes: VolumeWorld | None = None
    ) -> tuple[NodeState | None, dict[str, list[str]]]:
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
            unfit = (
                unfit_reasons(needs, node)
                or volume_unfit(needs, node, volumes)
                or inter_pod_unfit(needs, node, cluster)
            )
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


def _cluster_wide(total_nodes: int, reason: str) -> str:
    """kube-scheduler's message when a PreFilter refuses the pod before any node is looked at."""
    return (
        f"0/{total_nodes} nodes are available: {reason}. preemption: 0/{total_nodes} nodes are available: "
        f"{total_nodes} Preemption is not helpful for scheduling."
    )


def _claim_ref(claim: Mapping[str, Any]) -> Any:
    meta = claim["metadata"]

    def claim_it(volume: dict[str, Any]) -> None:
        if volume["spec"].get("claimRef"):
            return  # another claim took it earlier in this pass: this one tries again next pass
        volume["spec"]["claimRef"] = {
            "kind": "PersistentVolumeClaim",
            "apiVersion": "v1",
            "namespace": meta.get("namespace") or "default",
            "name": meta["name"],
            "uid": meta["uid"],
        }

    return claim_it


def _select_node(node_name: str) -> Any:
    def select(claim: dict[str, Any]) -> None:
        claim["metadata"].setdefault("annotations", {})[SELECTED_NODE] = node_name

    return select
