"""What the members hold and the endpoint serves without storing it, read from them when asked, as
Karmada's proxy serves a member's objects:

- the pods of the organization's federated workloads: ``kubectl get pods`` (a CLUSTER column says
  where each runs), ``get pod -o yaml``, ``describe pod``, ``logs``, ``delete pod`` (a Deployment's
  pod deleted to be replaced, as on a cluster), ``wait`` and ``get pods -w`` (by listing again), and
  their metrics (``kubectl top pod``); pods are not created through the endpoint: a workload's pods
  are its members' to make;
- the members' events of those pods (``kubectl describe pod``, ``kubectl get events``);
- the members' nodes and their metrics (``kubectl get nodes``, ``top node``), read-only.

Only the members holding a placement of the namespace's workloads are asked (every member with a
placement for a list across namespaces; every connected member for nodes), in parallel and within one
deadline. A member that cannot be read is named in a Warning and its objects are left out: a list
that says what it misses serves better than one that waits for a cluster that is down. Only pods
labelled with one of the organization's workloads are served, so a cluster connected to two
organizations shows each only its own.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from clusters.kube.access import ClusterCredentialsError, cluster_api_within, new_cluster_api
from clusters.kube.api import ClusterApi, ClusterRefused, ClusterUnreachable
from clusters.kube.deadline import Deadline
from clusters.kube.kinds import KINDS
from clusters.models import Cluster, ClusterStatus
from engines.kube.labels import JOB_UID_LABELS, WORKLOAD_ID
from policies.kubeapi import errors
from policies.kubeapi.selection import fields_match
from policies.kubeapi.tables import POD_CLUSTER_ANNOTATION, age, pod_summary
from policies.models import KubeObject, Placement, Workload
from tenants.models import Organization

Json = dict[str, Any]
T = TypeVar("T")
# Says which member a served pod runs in (kubectl get pods shows it as the CLUSTER column).
CLUSTER_ANNOTATION = POD_CLUSTER_ANNOTATION
# All members are asked at once; a list waits this long for the slowest.
READ_SECONDS = 10.0
# How often a watch of pods lists them again.
POLL_SECONDS = 2.0
# How long ``kubectl logs -f`` waits on a silent member's log before the stream ends (kubectl exits).
FOLLOW_SECONDS = 600
# What kubectl may ask of a pod's log (``PodLogOptions``); anything else is not passed on.
LOG_OPTIONS = ("container", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes")

_API_VERSIONS = {
    "Pod": "v1",
    "Event": "v1",
    "Node": "v1",
    "PodMetrics": "metrics.k8s.io/v1beta1",
    "NodeMetrics": "metrics.k8s.io/v1beta1",
}
_PLURALS = {"Pod": "pods", "PodMetrics": "pods", "Node": "nodes", "NodeMetrics": "nodes"}
# The members' own objects, all served: their nodes, and metrics-server's of them.
NODE_KINDS = ("Node", "NodeMetrics")
_REASONS = {400: "BadRequest", 403: "Forbidden", 404: "NotFound"}
_pool_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


def _pool() -> ThreadPoolExecutor:
    """This process's threads for member reads (one pool per process: a forked server must not
    use its parent's)."""
    with _pool_lock:
        pool = _pools.get(os.getpid())
        if pool is None:
            pool = _pools[os.getpid()] = ThreadPoolExecutor(max_workers=16, thread_name_prefix="member-reads")
        return pool


@dataclass
class Answers(Generic[T]):
    """What each member answered, in cluster-name order, and why the others did not."""

    answered: list[tuple[Cluster, T]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unread: set[str] = field(default_factory=set)  # the names of the members not read

    def warnings(self) -> list[str]:
        return [f"the pods in {problem} are left out" for problem in self.problems]


@dataclass(frozen=True)
class FoundPod:
    pod: Json
    cluster: Cluster
    warnings: list[str]


def _members(organization: Organization, namespace: str, kind: str = "Pod") -> list[Cluster]:
    """The organization's clusters that hold a placement of a workload of ``namespace`` (of any
    namespace when it is empty); for nodes, every connected one."""
    clusters = Cluster.objects.filter(organization=organization)
    if kind in NODE_KINDS:
        clusters = clusters.filter(status=ClusterStatus.CONNECTED)
    else:
        placed = Placement.objects.filter(organization=organization)
        if namespace:
            placed = placed.filter(workload__namespace=namespace)
        clusters = clusters.filter(pk__in=placed.values("cluster_id"))
    return list(clusters.select_related("organization", "cloud_account").order_by("name"))


def _ours(organization: Organization, namespace: str) -> set[str]:
    """The ids of the organization's workloads (of ``namespace``), removed ones too: their pods may
    still be stopping."""
    workloads = Workload.objects.filter(organization=organization)
    if namespace:
        workloads = workloads.filter(namespace=namespace)
    return {str(pk) for pk in workloads.values_list("pk", flat=True)}


def ask(clusters: list[Cluster], call: Callable[[ClusterApi, Cluster], T]) -> Answers[T]:
    deadline = Deadline.after(READ_SECONDS)

    def one(cluster: Cluster) -> T:
        return call(cluster_api_within(cluster, deadline), cluster)

    futures = [(cluster, _pool().submit(one, cluster)) for cluster in clusters]
    answers: Answers[T] = Answers()
    for cluster, future in futures:
        try:
            answers.answered.append((cluster, future.result()))
        except (ClusterCredentialsError, ClusterUnreachable, ClusterRefused) as error:
            answers.problems.append(f"{cluster.name} could not be read ({error})")
            answers.unread.add(cluster.name)
    return answers


def as_served(obj: Json, cluster: Cluster, kind: str, jobs: Mapping[str, str] | None = None) -> Json:
    """The member's object as the endpoint serves it: named with its cluster; a Job's pod labelled
    with the endpoint's Job's uid (``jobs``: by workload id), which its selector selects, not the
    member's copy's (``kubectl logs job/NAME`` lists the pods the served Job selects)."""
    metadata = obj.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), CLUSTER_ANNOTATION: cluster.name}
    labels = metadata.get("labels") or {}
    job = (jobs or {}).get(str(labels.get(WORKLOAD_ID)))
    if job is not None and any(key in labels for key in JOB_UID_LABELS):
        metadata["labels"] = {**labels, **{key: job for key in JOB_UID_LABELS if key in labels}}
    return {"apiVersion": _API_VERSIONS[kind], "kind": kind, **obj}


def _any_job_pod(answers: Answers[list[Json]]) -> bool:
    return any(
        JOB_UID_LABELS[0] in ((pod.get("metadata") or {}).get("labels") or {})
        for _, listed in answers.answered
        for pod in listed
    )


def _job_uids(organization: Organization, namespace: str) -> dict[str, str]:
    """The uids of the endpoint's Jobs (of ``namespace``) by the id of the workload each is."""
    jobs = KubeObject.objects.filter(
        organization=organization, kind="Job", group="batch", workload__isnull=False
    )
    if namespace:
        jobs = jobs.filter(namespace=namespace)
    return {str(workload): str(uid) for workload, uid in jobs.values_list("workload_id", "pk")}


def _is_ours(pod: Json, ours: set[str]) -> bool:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_ID)) in ours


def listing(
    organization: Organization,
    namespace: str,
    labels: Callable[[Mapping[str, str]], bool],
    filters: Any,
    kind: str = "Pod",
) -> tuple[list[Json], Answers[list[Json]]]:
    """The pods (or ``kind`` PodMetrics: metrics-server's, for ``kubectl top pod``) of the
    organization's workloads in ``namespace`` (every namespace when empty) that the selectors
    select, by namespace and name (then cluster); for ``NODE_KINDS``, every connected member's nodes
    (or their metrics). And what the members answered (``warnings()`` names those not read)."""
    nodes = kind in NODE_KINDS  # the members' own, all of them
    ours = set() if nodes else _ours(organization, namespace)
    selector = "" if nodes else WORKLOAD_ID
    answers = ask(
        _members(organization, namespace, kind),
        lambda api, _: list(api.list(kind, namespace=namespace or None, label_selector=selector)),
    )
    jobs = _job_uids(organization, namespace) if kind == "Pod" and _any_job_pod(answers) else {}
    shown = [
        as_served(pod, cluster, kind, jobs)
        for cluster, listed in answers.answered
        for pod in listed
        if nodes or _is_ours(pod, ours)
    ]
    pods = [
        pod for pod in shown if labels(pod["metadata"].get("labels") or {}) and fields_match(filters, pod)
    ]
    pods.sort(key=lambda pod: (pod["metadata"].get("namespace", ""), pod["metadata"].get("name", "")))
    return pods, answers


def changes(
    organization: Organization,
    namespace: str,
    *,
    labels: Callable[[Mapping[str, str]], bool],
    filters: Any,
    initial: bool,
    seconds: float,
    keepalive: float,
) -> Iterator[tuple[str, Json] | None]:
    """A watch of the pods ``listing`` serves, made by listing them again every ``POLL_SECONDS``
    until ``seconds`` pass: (ADDED/MODIFIED/DELETED, pod) for what changed since the listing before
    (a pod is one member's by its uid; one whose member could not be read is kept, not deleted);
    ``initial``: every pod first, as ADDED. None when there has been nothing to send for
    ``keepalive`` seconds, for a keep-alive that finds a client gone.

    Not offered in discovery: watchers that keep caches of every kind (Argo CD) would have every
    member listed every few seconds. ``kubectl get pods -w`` and ``kubectl wait`` ask for it anyway."""
    deadline = time.monotonic() + seconds
    known = _by_uid(listing(organization, namespace, labels, filters)[0])
    if initial:
        for pod in known.values():
            yield "ADDED", pod
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))
        pods, answers = listing(organization, namespace, labels, filters)
        events, known = pod_changes(known, _by_uid(pods), answers.unread)
        yield from events
        if events:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= keepalive:
            quiet_since = time.monotonic()
            yield None


def pod_changes(
    known: dict[tuple[str, str], Json], now: dict[tuple[str, str], Json], unread: set[str]
) -> tuple[list[tuple[str, Json]], dict[tuple[str, str], Json]]:
    """The watch events from the pods ``known`` to those listed ``now`` (by member and uid), and
    what is known after them: the pods of a member in ``unread`` are kept as they were, not
    deleted (the member is down, not its pods)."""
    events: list[tuple[str, Json]] = []
    after = dict(now)
    for key, pod in now.items():
        before = known.get(key)
        if before is None:
            events.append(("ADDED", pod))
        elif before["metadata"].get("resourceVersion") != pod["metadata"].get("resourceVersion"):
            events.append(("MODIFIED", pod))
    for key, pod in known.items():
        if key in now:
            continue
        if key[0] in unread:
            after[key] = pod
        else:
            events.append(("DELETED", pod))
    return events, after


def _by_uid(pods: list[Json]) -> dict[tuple[str, str], Json]:
    """The pods by member and uid (a pod's name may repeat in other members)."""
    return {
        (str(pod["metadata"]["annotations"][CLUSTER_ANNOTATION]), str(pod["metadata"].get("uid"))): pod
        for pod in pods
    }


def get(organization: Organization, namespace: str, name: str, kind: str = "Pod") -> FoundPod:
    """The pod ``name`` of the namespace (or its metrics), from the first member (by name) that runs
    one of ours so named; 404 when none does, 503 when a member that could not be read might."""
    nodes = kind in NODE_KINDS
    ours = set() if nodes else _ours(organization, namespace)
    answers = ask(
        _members(organization, namespace, kind), lambda api, _: api.get(kind, namespace or None, name)
    )
    found = [
        (cluster, pod)
        for cluster, pod in answers.answered
        if pod is not None and (nodes or _is_ours(pod, ours))
    ]
    if not found:
        if answers.problems:
            raise errors.KubeError(
                503,
                "ServiceUnavailable",
                f'{kind.lower()} "{name}" is in no member that answered, and {"; ".join(answers.problems)}',
            )
        raise errors.not_found(_PLURALS[kind], _API_VERSIONS[kind].rpartition("/")[0], name)
    warnings = answers.warnings()
    if len(found) > 1:
        # A StatefulSet divided over members names its pods from 0 in each of them.
        others = ", ".join(cluster.name for cluster, _ in found[1:])
        warnings.append(
            f"a {kind.lower()} named {name} is also in {others}: this is the one in {found[0][0].name} "
            f"(kubectl get {_PLURALS[kind]} --field-selector metadata.name={name} lists every one)"
        )
    cluster, pod = found[0]
    jobs = _job_uids(organization, namespace) if kind == "Pod" else {}
    return FoundPod(as_served(pod, cluster, kind, jobs), cluster, warnings)


def asks_for_pod_events(kind: str, filters: Mapping[str, tuple[str, str]]) -> bool:
    """A list of events that may be about pods: ``kubectl get events`` (of every kind), ``kubectl
    describe`` (one object's, by name and uid; kubectl names no kind)."""
    return kind == "Event" and filters.get("involvedObject.kind", ("=", "Pod")) == ("=", "Pod")


def pod_events(
    organization: Organization, namespace: str, filters: Mapping[str, tuple[str, str]]
) -> tuple[list[Json], list[str]]:
    """The events the members recorded about our pods of ``namespace`` (every namespace when empty)
    that the field selector selects: the scheduler's (Scheduled, FailedScheduling with its reasons),
    the kubelet's; marked with the member. A pod named in the selector is looked up by name, else the
    namespace's are listed; either way, only events of the uids of our pods there are served. A
    warning per member not read."""
    named = filters.get("involvedObject.name")
    name = named[1] if named and named[0] == "=" and namespace else ""
    uid = filters.get("involvedObject.uid")
    if uid is not None and uid[0] == "=" and _stored_here(organization, uid[1]):
        return [], []  # the events of one of the endpoint's own objects (a Deployment described)
    ours = _ours(organization, namespace)
    members = _members(organization, namespace)
    if name:
        found = ask(members, lambda api, _: [pod] if (pod := api.get("Pod", namespace, name)) else [])
    else:
        found = ask(
            members,
            lambda api, _: list(api.list("Pod", namespace=namespace or None, label_selector=WORKLOAD_ID)),
        )
    uids = {
        cluster.pk: {str(pod["metadata"].get("uid")) for pod in pods if _is_ours(pod, ours)}
        for cluster, pods in found.answered
    }
    selector = "involvedObject.kind=Pod" + (f",involvedObject.name={name}" if name else "")
    answers = ask(
        [cluster for cluster in members if uids.get(cluster.pk)],
        lambda api, _: list(api.list("Event", namespace=namespace or None, field_selector=selector)),
    )
    events = [
        as_served(event, cluster, "Event")
        for cluster, listed in answers.answered
        for event in listed
        if str((event.get("involvedObject") or {}).get("uid")) in uids[cluster.pk]
        if fields_match(filters, event)
    ]
    return events, found.warnings() + answers.warnings()


@dataclass(frozen=True)
class PodRow:
    """One of a workload's pods as its page shows it."""

    name: str
    cluster: str
    ready: str
    status: str
    restarts: int
    node: str
    age: str
    problem: str  # the member's latest Warning event about a pod that is not running, if any


def workload_pods(workload: Workload) -> tuple[list[PodRow], list[str]]:
    """The workload's pods in its members, for its page, with the latest Warning event (a
    FailedScheduling and its reasons) of each one that is not running; and a warning per member
    not read."""
    organization, namespace = workload.organization, workload.namespace
    pods, answers = listing(
        organization, namespace, lambda labels: labels.get(WORKLOAD_ID) == str(workload.pk), {}
    )
    warnings = answers.warnings()
    waiting = [pod for pod in pods if (pod.get("status") or {}).get("phase") not in ("Running", "Succeeded")]
    problems: dict[str, str] = {}
    if waiting:
        events, more = pod_events(organization, namespace, {"type": ("=", "Warning")})
        warnings += [w for w in more if w not in warnings]
        for event in sorted(events, key=lambda e: str(e.get("lastTimestamp") or "")):
            problems[str((event.get("involvedObject") or {}).get("uid"))] = str(event.get("message") or "")
    rows = []
    for pod in pods:
        metadata, spec = pod["metadata"], pod.get("spec") or {}
        ready, status, restarts = pod_summary(pod)
        rows.append(
            PodRow(
                name=str(metadata.get("name")),
                cluster=str(metadata["annotations"][CLUSTER_ANNOTATION]),
                ready=ready,
                status=status,
                restarts=restarts,
                node=str(spec.get("nodeName") or ""),
                age=age(str(metadata.get("creationTimestamp") or "")),
                problem="" if pod not in waiting else problems.get(str(metadata.get("uid")), ""),
            )
        )
    return rows, warnings


def _stored_here(organization: Organization, uid: str) -> bool:
    try:
        return KubeObject.objects.filter(organization=organization, pk=uuid.UUID(uid)).exists()
    except ValueError:
        return False


def delete(
    organization: Organization, namespace: str, name: str, *, grace_period_seconds: int | None = None
) -> FoundPod:
    """Delete the pod in its member (its workload's controller there replaces it), within its own
    grace period unless one is given (``kubectl delete --grace-period``)."""
    found = get(organization, namespace, name)
    try:
        api = cluster_api_within(found.cluster, Deadline.after(READ_SECONDS))
        api.delete("Pod", namespace, name, grace_period_seconds=grace_period_seconds)
    except (ClusterCredentialsError, ClusterRefused, ClusterUnreachable) as error:
        raise member_error(found.cluster, error) from error
    return found


def member_error(cluster: Cluster, error: Exception) -> errors.KubeError:
    """A member's refusal as the endpoint's error, naming the member (its 403 a 403: the credentials
    Nodeless has for it may not do this); a member that cannot be reached, 503."""
    if isinstance(error, ClusterRefused):
        reason = _REASONS.get(error.status, "InternalError")
        return errors.KubeError(error.status, reason, f"{cluster.name}: {error}")
    return errors.KubeError(503, "ServiceUnavailable", f"{cluster.name} could not be read ({error})")


def log(
    organization: Organization, namespace: str, name: str, query: Mapping[str, str]
) -> tuple[FoundPod, Iterator[bytes]]:
    """The pod and its log from its member: all of it now, or (``follow``) as it comes until the
    member ends it. A member's refusal (no such container) is the member's error."""
    found = get(organization, namespace, name)
    return found, _log(found, namespace, name, query)


def _log(found: FoundPod, namespace: str, name: str, query: Mapping[str, str]) -> Iterator[bytes]:
    options = [(key, query[key]) for key in LOG_OPTIONS if key in query]
    follow = query.get("follow") in ("true", "1")
    if follow:
        options.append(("follow", "true"))
    path = f"{KINDS['Pod'].path(namespace, name)}/log"
    try:
        if follow:
            api = new_cluster_api(found.cluster)
            try:
                return _closing_after(api, api.stream(path, query=options, seconds=FOLLOW_SECONDS))
            except BaseException:
                api.close()
                raise
        api = cluster_api_within(found.cluster, Deadline.after(READ_SECONDS))
        return iter([b"".join(api.stream(path, query=options, seconds=READ_SECONDS))])
    except (ClusterCredentialsError, ClusterRefused, ClusterUnreachable) as error:
        raise member_error(found.cluster, error) from error


def _closing_after(api: ClusterApi, chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    except ClusterUnreachable:
        return  # the member ended the stream: so does kubectl
    finally:
        api.close()
