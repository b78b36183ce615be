"""The act step of a pass: apply placements to their members and remove what is no longer placed.

Every object we create is labelled ``nodeless.io/workload-id`` (pods too, through the pod
template, so the loop can find them) and ``nodeless.io/managed-by: nodeless``, and annotated with
the workload generation it came from. A placement is applied when its generation or replica
count differs from what was applied; a Job of an older generation is deleted and created again
(its pod template cannot change); companions dropped by a new generation are deleted, except one
another workload placed on that cluster still uses: it is handed to that workload (applied as its
own, so its label names a workload that uses it) — one object on a member serves every workload
there that uses it. A companion that is also a stand-alone object (``policies.kubeapi.standalone``)
is handed to its policy by the same field manager: the stand-alone step's apply drops the
workload's label, so the workload's clean-up, before or after it, never deletes what the policy
sends there (``tests/policies/kubeapi/test_shared_companions.py``).

Throughput (issue 16): work is grouped per member and members are handled in parallel
(``NODELESS_FEDERATION_APPLY_THREADS`` at once; 1 is Karmada-like sequential apply, the baseline
of ``bench/federation_fleet.py``), each member's in order over the one client this process keeps
for it (``clusters.kube.access.cluster_api``: its connections are reused, pass after pass). Every
call spends from the member's API budget first — the token bucket the provisioning loop spends
from too (``workers.provisioning.budget``, ``NODELESS_CLUSTER_API_RATE``/``_BURST``), as client-go's
QPS/burst bounds one client — so a burst of placements never floods a member's API server. When
the budget would make a call wait more than a couple of seconds, that member's remaining actions
are left for the next pass (they get no outcome, so they are neither applied nor failed). Each
object is one server-side apply; a namespace is applied once per member and process, not once per
workload (it is forgotten when a call there is refused, so a deleted namespace is made again).
The threads only talk to the members and return outcomes, which the caller records
(``placement_outcomes_record``).
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from clusters.kube.api import ClusterApi, ClusterRefused, ClusterUnreachable
from engines.kube.labels import GENERATION_ANNOTATION, WORKLOAD_ID
from policies.federation.autoscaled import autoscaled
from policies.federation.manifests import COMPANION_KINDS
from policies.federation.placements import ActionOutcome, FederationRows
from policies.federation.services import workload_companions
from policies.federation.status import TERMINAL_PLACEMENT_STATES
from policies.federation.workload_kinds import pod_template, with_share
from policies.models import Placement, Workload, WorkloadKind
from workers.federation.observe import MemberObservation, in_parallel
from workers.provisioning.budget import ApiBudgetSpent, spend

MANAGED_BY_LABEL = "nodeless.io/managed-by"
# Companions that act on the workload, applied after it: a member's HPA then finds its target (no
# FailedGetScale), and its first scale (up to minReplicas, at once) is not undone by the workload's
# apply right behind it.
ACTING_ON_WORKLOAD = frozenset({"HorizontalPodAutoscaler"})
MAX_ACTIONS = 2000
Json = dict[str, Any]


@dataclass(frozen=True)
class Action:
    """One thing to do for one placement: apply its objects, or remove them."""

    placement_id: str
    cluster_id: str
    remove: bool
    namespace: str
    main: tuple[str, str]  # (kind, name) of the workload
    # To apply, in order: the companions the pods need, the workload, then what acts on it.
    objects: tuple[Json, ...] = ()
    companions: tuple[tuple[str, str], ...] = ()  # (kind, name) of the companions to keep
    recreate: bool = False  # delete the Job first (an older generation's pod template is immutable)
    # (generation, replicas) an apply brings the member to: its outcome may be recorded a pass
    # later (``runner``), when the placement may want more.
    target: tuple[int, int] = (0, 0)
    prune: bool = False  # delete companions of older generations that are not in ``companions``
    workload_id: str = ""
    # Companions another workload placed on the cluster uses: removing or pruning hands each to that
    # workload (applied as its own) instead of deleting it under it.
    shared: tuple[Json, ...] = ()


def ours(obj: Mapping[str, Any], workload: Workload) -> Json:
    """A copy of ``obj`` labelled and annotated as ours."""
    marked: Json = copy.deepcopy(dict(obj))
    metadata = marked.setdefault("metadata", {})
    metadata["labels"] = {
        **(metadata.get("labels") or {}),
        WORKLOAD_ID: str(workload.pk),
        MANAGED_BY_LABEL: "nodeless",
    }
    metadata["annotations"] = {
        **(metadata.get("annotations") or {}),
        GENERATION_ANNOTATION: str(workload.generation),
    }
    metadata["namespace"] = workload.namespace
    return marked


def render_workload(workload: Workload, placement: Placement, replicas: int | None = None) -> Json:
    """The workload for one placement: its share of replicas (``replicas`` instead, when given) and
    of a Job's or CronJob's completions; a DaemonSet whole. Its pods carry our workload label too."""
    share = placement.replicas if replicas is None else replicas
    obj = with_share(ours(workload.manifest, workload), share, placement.completions)
    template = pod_template(obj)
    template_metadata = template.setdefault("metadata", {})
    template_metadata["labels"] = {
        **(template_metadata.get("labels") or {}),
        WORKLOAD_ID: str(workload.pk),
    }
    return obj


def apply_action(
    workload: Workload,
    placement: Placement,
    companions: Sequence[Mapping[str, Any]],
    member_replicas: int | None = None,
) -> Action:
    """Apply the placement's objects; ``member_replicas``: what the member's own autoscaler scaled
    its copy to, kept by an apply of a new generation (``autoscaled``)."""
    generation_changed = 0 < placement.applied_generation != workload.generation
    return Action(
        placement_id=str(placement.pk),
        cluster_id=str(placement.cluster_id),
        remove=False,
        namespace=workload.namespace,
        main=(workload.kind, workload.name),
        objects=(
            *(ours(c, workload) for c in companions if c.get("kind") not in ACTING_ON_WORKLOAD),
            render_workload(workload, placement, member_replicas),
            *(ours(c, workload) for c in companions if c.get("kind") in ACTING_ON_WORKLOAD),
        ),
        companions=tuple((str(c["kind"]), str(c["metadata"]["name"])) for c in companions),
        recreate=generation_changed and workload.kind == WorkloadKind.JOB,
        prune=generation_changed,
        workload_id=str(workload.pk),
        target=(workload.generation, placement.replicas),
    )


def remove_action(workload: Workload, placement: Placement) -> Action:
    return Action(
        placement_id=str(placement.pk),
        cluster_id=str(placement.cluster_id),
        remove=True,
        namespace=workload.namespace,
        main=(workload.kind, workload.name),
        workload_id=str(workload.pk),
    )


def _with_shared(rows: FederationRows, actions: list[Action]) -> list[Action]:
    """Removals and prunes, each with the companions other workloads placed on its cluster (in
    its namespace) use there: one object on the member serves them all, labelled with one of them
    (whichever applied it last), so the one that goes hands it over rather than deleting it."""
    if not any(a.remove or a.prune for a in actions):
        return actions
    # (cluster, namespace) -> (kind, name) -> a live workload placed there that uses it
    users: dict[tuple[str, str], dict[tuple[str, str], Workload]] = {}
    for key, workload in rows.workloads.items():
        if workload.deleted_at is not None or not workload.companion_summary:
            continue
        for placement in rows.placements[key]:
            if placement.replicas > 0:
                there = users.setdefault((str(placement.cluster_id), workload.namespace), {})
                for used in workload.companion_summary:
                    there.setdefault((str(used["kind"]), str(used["name"])), workload)
    companions: dict[str, dict[tuple[str, str], Json]] = {}  # decrypted once per workload

    def shared(action: Action) -> tuple[Json, ...]:
        handed: list[Json] = []
        for (kind, name), user in users.get((action.cluster_id, action.namespace), {}).items():
            if str(user.pk) == action.workload_id or (kind, name) in action.companions:
                continue
            if str(user.pk) not in companions:
                companions[str(user.pk)] = {
                    (str(c["kind"]), str(c["metadata"]["name"])): c for c in workload_companions(user)
                }
            found = companions[str(user.pk)].get((kind, name))
            if found is not None:
                handed.append(ours(found, user))
        return tuple(handed)

    return [replace(a, shared=shared(a)) if a.remove or a.prune else a for a in actions]


def actions_for(rows: FederationRows, observations: Mapping[str, MemberObservation]) -> list[Action]:
    """What to do this pass, at most MAX_ACTIONS, on clusters that answered: remove placements with
    no replicas left, apply those whose generation or replica count differs from what was applied.
    (An unreachable cluster's leftovers are removed when it is back, so no duplicate keeps running.)"""
    actions: list[Action] = []
    for key, workload in rows.workloads.items():
        companions = None
        for placement in rows.placements[key]:
            if not observations[str(placement.cluster_id)].reachable or len(actions) >= MAX_ACTIONS:
                continue
            if placement.replicas == 0:
                actions.append(remove_action(workload, placement))
            elif placement.state not in TERMINAL_PLACEMENT_STATES and (
                placement.applied_generation != workload.generation
                or placement.applied_replicas != placement.replicas
            ):
                if companions is None:
                    companions = workload_companions(workload)
                kept = _autoscaled_replicas(workload, placement, observations[str(placement.cluster_id)])
                actions.append(apply_action(workload, placement, companions, kept))
    return _with_shared(rows, actions)


def _autoscaled_replicas(
    workload: Workload, placement: Placement, observation: MemberObservation
) -> int | None:
    """The replicas the member's HPA scaled its copy to, for an apply that brings only a new
    generation (the share the policy gives it is unchanged): applying the share again would undo the
    HPA's work until its next sync, as ``kubectl apply`` of a Deployment with replicas does on a
    cluster. None otherwise (a new share, a first apply, no HPA): the share is applied."""
    if not autoscaled(workload) or placement.applied_replicas != placement.replicas:
        return None
    state = observation.objects.get(str(workload.pk))
    return state.replicas if state is not None and placement.applied_generation else None


# (process, cluster id, namespace) of the namespaces this process has applied in each member.
_namespaces_lock = threading.Lock()
_namespaces: set[tuple[int, str, str]] = set()


class MemberClient:
    """One member's client, every call spending from the member's API budget first."""

    def __init__(self, api: ClusterApi, cluster_id: str) -> None:
        self.api, self.cluster_id = api, cluster_id

    def apply(self, obj: Mapping[str, Any]) -> None:
        spend(self.cluster_id)
        self.api.apply(obj)

    def delete(self, kind: str, namespace: str, name: str, *, api_version: str = "") -> None:
        spend(self.cluster_id)
        self.api.delete(kind, namespace, name, api_version=api_version)

    def list(self, kind: str, *, namespace: str, label_selector: str) -> list[Json]:
        spend(self.cluster_id)
        return list(self.api.list(kind, namespace=namespace, label_selector=label_selector))

    def ensure_namespace(self, namespace: str) -> None:
        key = (os.getpid(), self.cluster_id, namespace)
        with _namespaces_lock:
            if key in _namespaces:
                return
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        with _namespaces_lock:
            _namespaces.add(key)

    def forget_namespace(self, namespace: str) -> None:
        with _namespaces_lock:
            _namespaces.discard((os.getpid(), self.cluster_id, namespace))


def _prune(member: MemberClient, action: Action, keep: set[tuple[str, str]]) -> None:
    """Delete our companions in the namespace that are not in ``keep`` (found by label, so those
    of older generations go too); one another workload there uses is handed to it instead."""
    shared = {(str(obj["kind"]), str(obj["metadata"]["name"])): obj for obj in action.shared}
    for kind in COMPANION_KINDS:
        selector = f"{WORKLOAD_ID}={action.workload_id}"
        for obj in member.list(kind, namespace=action.namespace, label_selector=selector):
            name = str((obj.get("metadata") or {}).get("name"))
            if (kind, name) in keep:
                continue
            if (kind, name) in shared:
                member.apply(shared[(kind, name)])
            else:
                member.delete(kind, action.namespace, name)


def _run(member: MemberClient, action: Action) -> None:
    if action.remove:
        member.delete(action.main[0], action.namespace, action.main[1])
        _prune(member, action, keep=set())
        return
    member.ensure_namespace(action.namespace)
    if action.recreate:
        member.delete(action.main[0], action.namespace, action.main[1])
    if action.prune:
        _prune(member, action, keep=set(action.companions))
    for obj in action.objects:
        try:
            member.apply(obj)
        except ClusterRefused as refused:
            if (obj.get("kind"), (obj.get("metadata") or {}).get("name")) == action.main:
                raise
            # A companion refused: say which, so the placement's reason (and the object's
            # FullyApplied condition and events on the endpoint) names it.
            metadata = obj.get("metadata") or {}
            raise ClusterRefused(refused.status, f"{obj.get('kind')}/{metadata.get('name')}: {refused}")


def _failed(action: Action, message: str, *, unreachable: bool = False) -> ActionOutcome:
    return ActionOutcome(
        action.placement_id, action.remove, done=False, unreachable=unreachable, message=message
    )


def _done(action: Action) -> ActionOutcome:
    return ActionOutcome(
        action.placement_id, action.remove, done=True, applied=None if action.remove else action.target
    )


def _cluster_actions(api: ClusterApi | None, actions: Sequence[Action]) -> list[ActionOutcome]:
    if api is None:
        return [_failed(a, "cluster unreachable", unreachable=True) for a in actions]
    member = MemberClient(api, actions[0].cluster_id)
    outcomes: list[ActionOutcome] = []
    for index, action in enumerate(actions):
        try:
            _run(member, action)
        except ApiBudgetSpent:
            return outcomes  # the member's budget is spent for now: the next pass carries on
        except ClusterUnreachable as error:
            # The cluster went away mid-pass: nothing else can be done there now.
            outcomes += [_failed(a, str(error), unreachable=True) for a in actions[index:]]
            return outcomes
        except ClusterRefused as refused:
            member.forget_namespace(action.namespace)
            kind, name = action.main
            verb = "removing" if action.remove else "applying"
            outcomes.append(_failed(action, f"{verb} {kind}/{name} refused: {refused}"))
        else:
            outcomes.append(_done(action))
    return outcomes


def execute(members: Mapping[str, ClusterApi | None], actions: Sequence[Action]) -> list[ActionOutcome]:
    """Run ``actions`` (clusters in parallel, each cluster's in order); outcomes in that order,
    none for the actions a spent API budget left for the next pass."""
    by_cluster: dict[str, list[Action]] = {}
    for action in actions:
        by_cluster.setdefault(action.cluster_id, []).append(action)
    results = in_parallel(
        lambda item: _cluster_actions(members.get(item[0]), item[1]),
        list(by_cluster.items()),
        threads=settings.NODELESS_FEDERATION_APPLY_THREADS,
        purpose="apply",
    )
    by_placement = {outcome.placement_id: outcome for outcomes in results for outcome in outcomes}
    return [by_placement[action.placement_id] for action in actions if action.placement_id in by_placement]


# One thread per process runs the applies a pass leaves in flight (``start``); ``execute`` spreads
# them over the apply pool from there.
_starter_lock = threading.Lock()
_starters: dict[int, ThreadPoolExecutor] = {}


def start(members: Mapping[str, ClusterApi | None], actions: Sequence[Action]) -> Future[list[ActionOutcome]]:
    """``execute`` in the background: the outcomes, once every member's calls are done."""
    with _starter_lock:
        starter = _starters.get(os.getpid())
        if starter is None:
            starter = _starters[os.getpid()] = ThreadPoolExecutor(1, thread_name_prefix="federation-applying")
    return starter.submit(execute, dict(members), list(actions))
