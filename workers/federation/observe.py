"""One look at every member cluster per pass: reachable or not, its nodes, what other pods request,
and the state of our objects and pods (grouped by the ``nodeless.io/workload-id`` label).

Nodes and pods come from the cluster's one observation (``clusters.observation``: watches, not a
list of every pod each pass); our workload objects are listed by label, only of the kinds the
organization federates. All clusters at once on
a small thread pool; the threads do network I/O only, never database work — what was read is kept
as each cluster's observation afterwards, in the calling thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from django.utils import timezone

from clusters.kube.access import ClusterCredentialsError, cluster_api
from clusters.kube.api import ClusterApi, ClusterRefused, ClusterUnreachable
from clusters.models import Cluster, ClusterStatus
from clusters.observation.reading import (
    ClusterUnavailable,
    answered,
    heard_from,
    informer_for,
    read_cluster,
    read_labelled,
)
from clusters.observation.recording import observation_failed, observation_record
from engines.kube import Node, Pod
from engines.kube.cluster import ClusterState
from engines.kube.labels import GENERATION_ANNOTATION, WORKLOAD_ID
from engines.kube.pods import try_requests
from policies.federation.headroom import (
    CA_STATUS_CONFIGMAP,
    CA_STATUS_NAMESPACE,
    NO_HEADROOM,
    Headroom,
    cluster_autoscaler_headroom,
    karpenter_headroom,
)
from policies.federation.observation import MemberReport, ObjectState, PodSummary
from policies.federation.pricing import NodeInfo
from policies.federation.snapshots import Inventory, Usage
from workers.federation.companion_statuses import member_companion_statuses

logger = logging.getLogger(__name__)

# Members looked at at once: each call goes to a different member, so this bounds only this
# process's threads. 32 (as NODELESS_FEDERATION_APPLY_THREADS) instead of 8 took applied p50/p99
# from 9.0/13.6 s to 6.9/11.2 s at 1,000 workloads over 100 members (bench/federation_fleet.py).
MAX_THREADS = 32
# A member that answered recently - a watch event, a list, or its version asked by an earlier pass
# of this process - is not asked for its version again: at 100 members, a hundred requests a pass,
# each a round trip on the look's threads and work for the member. At rest, when every task's first
# pass asked them all, that was a fifth of an organization's CPU (bench/federation_fleet.py
# --steady-passes). How recently (``liveness_seconds``): LIVENESS_SECONDS, as Karmada's cluster
# status controller checks each member every 10 s and gives it 30 s, but never longer than the
# shortest grace period of the organization's policies - a member cut off is noticed within its
# policies' grace, and one whose policy says 0 is asked on every task's first pass - and at least
# HEARD_SECONDS in a pass that follows another of its task at once (a burst).
LIVENESS_SECONDS = 30.0
HEARD_SECONDS = 2.0
# An autoscaler's limits change rarely: read them again at most this often per member and process.
HEADROOM_SECONDS = 30.0
_BLOCKING_TAINTS = ("NoSchedule", "NoExecute")
_STUCK_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError")
Json = dict[str, Any]


@dataclass
class MemberObservation(MemberReport):
    """What the pass saw in one member, and the client to act there with (None when none could be
    built); the caller closes it."""

    api: ClusterApi | None = None
    state: ClusterState | None = None  # the cluster as read, kept as its observation by the caller


def node_info(node: Node) -> NodeInfo:
    """A node as federation prices and counts it: what pods may use there, and whether new pods
    may go there at all (Ready, not cordoned, no NoSchedule/NoExecute taint)."""
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
    """Our workload object in a member, as its kind's status reports it (the raw status is kept
    too: the endpoint aggregates each kind's own fields)."""
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    try:
        generation = int((metadata.get("annotations") or {}).get(GENERATION_ANNOTATION, 0))
    except ValueError:
        generation = 0
    kind = str(obj.get("kind"))
    raw = dict(status)
    if kind == "Job":
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
            status=raw,
        )
    if kind == "DaemonSet":
        # One pod per eligible node: the member's own count is what "all ready" means there.
        return ObjectState(
            kind=kind,
            generation=generation,
            replicas=int(status.get("desiredNumberScheduled") or 0),
            ready=int(status.get("numberReady") or 0),
            available=int(status.get("numberAvailable") or 0),
            status=raw,
        )
    if kind == "CronJob":
        active = len(status.get("active") or [])
        return ObjectState(
            kind=kind,
            generation=generation,
            replicas=int(((spec.get("jobTemplate") or {}).get("spec") or {}).get("parallelism") or 1),
            ready=active,
            available=active,
            status=raw,
        )
    return ObjectState(  # Deployment, StatefulSet
        kind=kind,
        generation=generation,
        replicas=int(spec.get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        status=raw,
    )


_headroom_lock = threading.Lock()
_headroom: dict[tuple[int, str], tuple[float, Headroom]] = {}


def autoscaler_headroom(api: ClusterApi, cluster_id: str, state: ClusterState) -> Headroom:
    """What the member's own autoscaler can still add (Cluster Autoscaler's status ConfigMap,
    Karpenter's NodePools), read at most every ``HEADROOM_SECONDS``; none when neither is there or
    our credentials may not read them."""
    key = (os.getpid(), cluster_id)
    with _headroom_lock:
        known = _headroom.get(key)
    if known is not None and time.monotonic() - known[0] < HEADROOM_SECONDS:
        return known[1]
    observed = list(state.nodes.values())
    nodes = [node_info(item.node) for item in observed]
    labels = [dict(item.node.labels) for item in observed]
    headroom = NO_HEADROOM
    try:
        configmap = api.get("ConfigMap", CA_STATUS_NAMESPACE, CA_STATUS_CONFIGMAP)
        headroom = headroom + cluster_autoscaler_headroom(configmap, nodes, labels)
    except ClusterRefused as refused:
        logger.info("federation: cannot read Cluster Autoscaler's status: %s", refused)
    try:
        headroom = headroom + karpenter_headroom(api.list("NodePool"))
    except ClusterRefused as refused:
        if refused.status not in (403, 404):  # 404: Karpenter is not installed
            logger.info("federation: cannot read Karpenter NodePools: %s", refused)
    with _headroom_lock:
        _headroom[key] = (time.monotonic(), headroom)
    return headroom


_LOOK = "federation-look"
_AskedFor = tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]


@dataclass(frozen=True)
class _Look:
    """What a look at a member derived from its informer's view (``ClusterInformer.derived``), and
    for what: the view's change count before it was read, and the workload ids, kinds, applied ids
    and companion kinds whose statuses it was asked for. The next look asked the same of an unchanged view reuses it: at rest,
    rebuilding every member's state, pod summaries and object states each pass was about a quarter
    of a 1,000-workload organization's pass over 100 members (bench/federation_fleet.py
    --steady-passes). Time does not enter it: the pass applies its own rules of time to it."""

    changes: int
    asked_for: _AskedFor
    state: ClusterState
    pods: dict[str, PodSummary]
    objects: dict[str, ObjectState]
    companion_statuses: dict[str, dict[str, Json]]
    nodes: tuple[NodeInfo, ...]
    others: Usage

    def holds(self, changes: int, asked_for: _AskedFor) -> bool:
        return self.changes == changes and self.asked_for == asked_for


def liveness_seconds(grace_periods: Iterable[int], *, following: bool) -> float:
    """How recently a member must have answered for a pass not to ask it its version (see
    ``LIVENESS_SECONDS``), given the grace periods of the policies of the organization's workloads."""
    window = min(LIVENESS_SECONDS, float(min(grace_periods, default=LIVENESS_SECONDS)))
    return max(HEARD_SECONDS, window) if following else window


def observe_member(
    cluster: Cluster,
    ours: Collection[str],
    kinds: Collection[str] = ("Deployment", "Job"),
    applied: Collection[str] = (),
    *,
    answered_within: float = 0.0,
    status_kinds: Collection[str] = (),
) -> MemberObservation:
    """Look at one member; ``ours`` are the ids of the organization's workloads, ``kinds`` their
    kinds (only those are read), ``applied`` the ids of those applied there (a pass found them);
    ``answered_within``: a member heard from this recently is not asked whether it answers
    (``liveness_seconds``); ``status_kinds``: the companion kinds whose statuses are read
    (``companion_statuses``)."""
    cluster_id = str(cluster.pk)
    if cluster.status != ClusterStatus.CONNECTED:
        # Not verified (yet, or it failed): no call to it, so a silent endpoint cannot slow the pass.
        why = f": {cluster.health_problem}" if cluster.health_problem else ""
        return MemberObservation(
            cluster_id,
            problem=f"{cluster.name} is not in service ({cluster.get_status_display().lower()}{why})",
        )
    asked_for = (frozenset(ours), frozenset(kinds), frozenset(applied), frozenset(status_kinds))
    try:
        api = cluster_api(cluster)
        informer = informer_for(cluster)
        changes = informer.changes  # before the view is read: see ClusterInformer.changes
        look = informer.derived.get(_LOOK)
        if not isinstance(look, _Look) or not look.holds(changes, asked_for):
            look = None
            state = read_cluster(cluster, fresh=False)  # the call below finds a silent member
        elif informer.problem:  # a failing watch's view is as old as the failure (read_cluster)
            raise ClusterUnavailable(informer.problem)
        else:
            state = replace(look.state, observed_at=timezone.now())
    except (ClusterCredentialsError, ClusterUnavailable) as error:
        logger.info("federation: cannot read %s: %s", cluster.name, error)
        return MemberObservation(cluster_id, problem=str(error) or type(error).__name__)
    observation = MemberObservation(cluster_id, api=api, state=state)
    if look is None:
        others = _our_pods(observation.pods, state, asked_for[0])
    else:
        others = look.others
        observation.pods.update(look.pods)
    watched = True
    try:
        if not heard_from(cluster, answered_within):
            api.version()  # the watches cannot tell a silent member at once: one small call can
            answered(cluster)
        if look is None:
            objects, watched = _our_objects(cluster, api, kinds, applied)
            for obj in objects:
                owner = str(((obj.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_ID))
                if owner in ours:
                    observation.objects[owner] = _object_state(obj)
            statuses, statuses_watched = member_companion_statuses(cluster, api, status_kinds)
            observation.companion_statuses.update(statuses)
            watched = watched and statuses_watched
        else:
            observation.objects.update(look.objects)
            observation.companion_statuses.update(look.companion_statuses)
    except (ClusterUnreachable, ClusterRefused) as error:
        observation.problem = str(error)
        observation.objects.clear()
        observation.pods.clear()
        observation.companion_statuses.clear()
        return observation
    if look is not None:
        nodes = look.nodes
    else:
        nodes = tuple(node_info(observed.node) for observed in state.nodes.values())
        if watched:  # a list made for this look is not the view's: it is not kept with it
            kept = (dict(observation.pods), dict(observation.objects), dict(observation.companion_statuses))
            informer.derived[_LOOK] = _Look(changes, asked_for, state, *kept, nodes, others)
    headroom = NO_HEADROOM
    if not cluster.is_nodeless:
        try:
            headroom = autoscaler_headroom(api, cluster_id, state)
        except ClusterUnreachable as error:
            observation.problem = str(error)
            return observation
    observation.inventory = Inventory(nodes, others, headroom)
    return observation


def _our_pods(summaries: dict[str, PodSummary], state: ClusterState, ours: Collection[str]) -> Usage:
    """Summarise our pods into ``summaries`` (by workload id); what the member's other pods hold."""
    others = Usage()
    for pod in [*state.pending, *state.bound_pods]:
        owner = str(pod.labels.get(WORKLOAD_ID))
        if owner in ours:
            _summarise(summaries.setdefault(owner, PodSummary()), pod)
        elif not pod.is_finished:
            others = others + pod_usage(pod)
    return others


def _our_objects(
    cluster: Cluster, api: ClusterApi, kinds: Collection[str], applied: Collection[str]
) -> tuple[list[Json], bool]:
    """Our objects of ``kinds`` in the member, and whether they came from its watches: at 100
    members, listing them every pass was a tenth of the loop's CPU and more of the members'
    (bench/federation_fleet.py). Listed directly while a watch is not listed yet or failing, and
    when it lacks an object ``applied`` says is there: a watch may be behind an apply of the last
    pass, and an object missing from the look is applied again."""
    watched: list[Json] = []
    for kind in sorted(kinds):
        objects = read_labelled(cluster, kind, WORKLOAD_ID)
        if objects is None:
            return _listed(api, kinds), False
        watched.extend(objects)
    seen = {str(((obj.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_ID)) for obj in watched}
    if not set(applied) <= seen:
        return _listed(api, kinds), False
    return watched, True


def _listed(api: ClusterApi, kinds: Collection[str]) -> list[Json]:
    return [obj for kind in sorted(kinds) for obj in api.list(kind, label_selector=WORKLOAD_ID)]


# The process's threads for member calls, by purpose and size (and by process: a forked worker
# must not use its parent's). Kept between passes: a pool per call started up to 64 threads a pass, and each
# start waits for the new thread to run, which under load was 6 of a pass's 40 seconds (profile of
# bench/federation_fleet.py at 1,000 workloads over 100 members). The work never calls back in,
# so calls sharing a pool cannot deadlock it. A pass's applies may still run while the next pass
# looks at the members (``runner``): they have a pool of their own, so the look never queues
# behind them.
_pools_lock = threading.Lock()
_pools: dict[tuple[int, str, int], ThreadPoolExecutor] = {}


def _pool(purpose: str, threads: int) -> ThreadPoolExecutor:
    with _pools_lock:
        key = (os.getpid(), purpose, threads)
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ThreadPoolExecutor(
                max_workers=threads, thread_name_prefix=f"federation-{purpose}"
            )
        return pool


def in_parallel(
    work: Callable[[Any], Any], items: Iterable[Any], *, threads: int = MAX_THREADS, purpose: str = "look"
) -> list[Any]:
    """``work`` over ``items`` on up to ``threads`` threads of the ``purpose``'s pool, results in order."""
    items = list(items)
    if len(items) <= 1 or threads <= 1:
        return [work(item) for item in items]
    return list(_pool(purpose, threads).map(work, items))


# A pass keeps what it read of a member at most this often (per process), and keeps at most
# RECORDS_PER_PASS members' per pass, the stalest first: a kept observation is for pages and
# previews, which the health check and metering refresh every minute too, and keeping one costs
# several statements (~25 ms) per member — at 100 members, keeping every due one made a pass
# seconds longer (profile of bench/federation_fleet.py) and the placements wait behind it.
KEEP_SECONDS = 30.0
RECORDS_PER_PASS = 10
_kept_lock = threading.Lock()
_kept: dict[tuple[int, str], float] = {}


def _records_due(cluster_ids: Iterable[str]) -> set[str]:
    """Of ``cluster_ids``, those whose observation this pass keeps (and marks as kept now)."""
    pid, now = os.getpid(), time.monotonic()
    with _kept_lock:
        due = sorted(
            (last, cluster_id)
            for cluster_id in cluster_ids
            if now - (last := _kept.get((pid, cluster_id), -KEEP_SECONDS)) >= KEEP_SECONDS
        )[:RECORDS_PER_PASS]
        for _, cluster_id in due:
            _kept[(pid, cluster_id)] = now
    return {cluster_id for _, cluster_id in due}


def observe_members(
    clusters: Sequence[Cluster],
    ours: Collection[str],
    kinds: Collection[str] = ("Deployment", "Job"),
    applied: Mapping[str, Collection[str]] | None = None,
    *,
    following: bool = False,
    answered_within: float = 0.0,
    status_kinds: Collection[str] = (),
) -> dict[str, MemberObservation]:
    """Every member at once; keyed by cluster id (``applied``: by cluster id, the workloads applied
    there; ``answered_within``: see ``observe_member``). What was read is kept as each cluster's
    latest observation (pages and previews read it), for at most ``RECORDS_PER_PASS`` members a
    pass, unless the pass is ``following`` another of its task at once (``runner``), so a burst's
    passes do not wait on it."""
    applied = applied or {}
    ours = frozenset(ours)  # once: each member's look compares it with what its last look was for
    observations = in_parallel(
        lambda cluster: observe_member(
            cluster,
            ours,
            kinds,
            applied.get(str(cluster.pk), ()),
            answered_within=answered_within,
            status_kinds=status_kinds,
        ),
        clusters,
    )
    by_id = {str(cluster.pk): cluster for cluster in clusters}
    due = set() if following else _records_due(o.cluster_id for o in observations if o.state is not None)
    for observation in observations:
        cluster = by_id[observation.cluster_id]
        if observation.state is not None:
            if observation.cluster_id in due:
                observation_record(cluster, observation.state)
        elif observation.problem and cluster.status == ClusterStatus.CONNECTED:
            observation_failed(cluster, observation.problem, timezone.now())
    return {observation.cluster_id: observation for observation in observations}
