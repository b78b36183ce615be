"""One look at every member cluster per pass: reachable or not, its nodes, what other pods request,
and the state of our objects and pods (grouped by the ``nodeless.io/workload-id`` label).

Four list calls per cluster (nodes, pods, our Deployments, our Jobs), all clusters at once on a
small thread pool; the threads do network I/O only, never database work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from clusters.kube.access import cluster_api_client, unauthorized_hint
from clusters.models import Cluster
from engines.kube import Node, Pod
from engines.kube.labels import WORKLOAD_ID
from engines.kube.pods import try_requests
from policies.federation.observation import MemberReport, ObjectState, PodSummary
from policies.federation.pricing import NodeInfo
from policies.federation.snapshots import Inventory, Usage
from workers.federation.kube import (
    GENERATION_ANNOTATION,
    MemberApi,
    MemberRefused,
    MemberUnreachable,
)

logger = logging.getLogger(__name__)

MAX_THREADS = 8
_BLOCKING_TAINTS = ("NoSchedule", "NoExecute")
_STUCK_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError")
Json = dict[str, Any]


@dataclass
class MemberObservation(MemberReport):
    """What the pass saw in one member, and the client to act there with (None when none could be
    built); the caller closes it."""

    api: MemberApi | None = None


def node_info(raw: Json) -> NodeInfo:
    """A node as federation prices and counts it: what pods may use there, and whether new pods
    may go there at all (Ready, not cordoned, no NoSchedule/NoExecute taint)."""
    node = Node(raw)
    allocatable = node.allocatable
    tainted = any(taint.get("effect") in _BLOCKING_TAINTS for taint in node.raw_taints)
    return NodeInfo(
        instance_type=node.instance_type,
        cpu_millis=allocatable.cpu_millis,
        memory_mib=allocatable.memory_mib,
        gpus=allocatable.gpus,
        pods=allocatable.pods,
        schedulable=node.ready and not node.unschedulable and not tainted,
    )


def _pod_problem(pod: Pod) -> tuple[str, str]:
    """("unschedulable" | "stuck" | "", message) for a pod that is not running."""
    status = pod.status
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return "unschedulable", str(condition.get("message") or "no node has room")
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _STUCK_REASONS:
            return "stuck", f"{waiting['reason']}: {waiting.get('message') or container.get('name')}"
    return "", ""


def _summarise(summary: PodSummary, pod: Pod) -> None:
    phase = pod.phase
    if phase == "Succeeded":
        return
    if phase == "Failed":
        summary.failed += 1
        return
    if phase == "Running":
        summary.running += 1
    else:
        summary.pending += 1
    kind, message = _pod_problem(pod)
    if kind == "unschedulable":
        summary.unschedulable += 1
        summary.problem = summary.problem or f"{summary.unschedulable} pod unschedulable: {message}"
    elif kind == "stuck":
        summary.stuck += 1
        summary.problem = summary.problem or message


def pod_usage(pod: Pod) -> Usage:
    """What another pod holds (the kernel's sizing rule); a pod with an unreadable quantity holds
    only its slot."""
    requests = try_requests(pod)
    if requests is None:
        return Usage(0, 0, 0, 1)
    return Usage(requests.cpu_millis, requests.memory_mib, requests.gpus, requests.pods)


def _object_state(obj: Json) -> ObjectState:
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    try:
        generation = int((metadata.get("annotations") or {}).get(GENERATION_ANNOTATION, 0))
    except ValueError:
        generation = 0
    if obj.get("kind") == "Job":
        conditions = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
        failed = conditions.get("Failed")
        return ObjectState(
            kind="Job",
            generation=generation,
            replicas=int(spec.get("parallelism") or 0),
            ready=int(status.get("ready") or status.get("active") or 0),
            available=int(status.get("active") or 0),
            succeeded=int(status.get("succeeded") or 0),
            failed=int(status.get("failed") or 0),
            complete="Complete" in conditions,
            failure=f"{failed.get('reason')}: {failed.get('message')}" if failed else "",
        )
    return ObjectState(
        kind="Deployment",
        generation=generation,
        replicas=int(spec.get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
    )


def observe_member(cluster: Cluster, ours: Collection[str]) -> MemberObservation:
    """Look at one member; ``ours`` are the ids of the organization's workloads."""
    cluster_id = str(cluster.pk)
    try:
        api = MemberApi(cluster_api_client(cluster), unauthorized_hint=unauthorized_hint(cluster))
    except Exception as error:  # any credential problem leaves this one cluster unreachable
        logger.info("federation: cannot build a client for %s: %s", cluster.name, error)
        return MemberObservation(cluster_id, problem=str(error) or type(error).__name__)
    observation = MemberObservation(cluster_id, api=api)
    try:
        nodes = tuple(node_info(node) for node in api.list("Node"))
        others = Usage()
        for raw in api.list("Pod"):
            pod = Pod(raw)
            owner = str(pod.labels.get(WORKLOAD_ID))
            if owner in ours:
                _summarise(observation.pods.setdefault(owner, PodSummary()), pod)
            elif not pod.is_finished:
                others = others + pod_usage(pod)
        for kind in ("Deployment", "Job"):
            for obj in api.list(kind, label_selector=WORKLOAD_ID):
                owner = str(((obj.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_ID))
                if owner in ours:
                    observation.objects[owner] = _object_state(obj)
    except (MemberUnreachable, MemberRefused) as error:
        observation.problem = str(error)
        observation.objects.clear()
        observation.pods.clear()
        return observation
    observation.inventory = Inventory(nodes, others)
    return observation


def in_parallel(work: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``work`` over ``items`` on up to MAX_THREADS threads, results in order."""
    items = list(items)
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(
        max_workers=min(MAX_THREADS, len(items)), thread_name_prefix="federation"
    ) as pool:
        return list(pool.map(work, items))


def observe_members(clusters: Sequence[Cluster], ours: Collection[str]) -> dict[str, MemberObservation]:
    """Every member at once; keyed by cluster id."""
    observations = in_parallel(lambda cluster: observe_member(cluster, ours), clusters)
    return {observation.cluster_id: observation for observation in observations}
