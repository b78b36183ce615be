"""Serverless (Fargate) capacity for the pods the planner puts there, the way EKS routes them.

EKS decides at a pod's creation: a pod created while an ACTIVE Fargate profile matches it gets
`schedulerName: fargate-scheduler` and a micro-VM of its own; a pod created before keeps the
default scheduler for good (`schedulerName` is immutable). So for each pod the planner assigns to
serverless, the pass (`route_serverless`, pure):

1. names the pod's **selector**: its namespace and its workload's labels (at most 5, leaving out the
   per-revision and per-pod ones, so every replica of the workload matches and no other pod does);
2. when no profile routes it, **creates** the profile of that selector (one per selector, named
   `nodeless-<namespace>-<hash>`, with the stack's pod execution role and the node class's
   private subnets) — one profile operation per cluster at a time, as EKS allows; the pod stays
   pending, saying it waits for the profile;
3. once a profile that matches it is ACTIVE, **recreates** the pod when a controller owns it
   (ReplicaSet, StatefulSet, Job…): the pending pod is deleted (with its uid as a precondition) and
   its owner creates a new one, which EKS routes. A pod nobody owns cannot be recreated by anyone
   but its author: it stays pending with that reason (a new copy of it will run on Fargate).

Profiles Nodeless made are **deleted** once no live pod matches them for the policy's scale-down
delay (never while a pod runs through one: EKS deletes those pods with their profile) — or, once
the policy no longer allows serverless, when every pod running through one has a controller that
will create it again (on the capacity the policy now allows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from clusters.cloud.fargate import (
    ACTIVE,
    CREATING,
    DELETING,
    MAX_LABELS,
    MAX_PROFILES,
    FargateProfile,
    FargateSelector,
)
from engines.kube import Pod
from workers.provisioning.commands import LeavePending

# Labels that differ between revisions or replicas of one workload: a selector naming them would
# miss the pods the owner creates next.
VOLATILE_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/job-completion-index",
        "job-name",
        "controller-uid",
    }
)
RESERVED_PREFIXES = ("eks.amazonaws.com/",)
PROFILE_LABEL = "eks.amazonaws.com/fargate-profile"  # EKS labels each pod with the profile that routed it
NOT_RECREATABLE = (
    "runs on Fargate only if created after its Fargate profile {profile} became ACTIVE, and no "
    "controller owns this pod to create it again: delete it and create it again"
)
WAITING = "waiting for its Fargate profile {profile} to become ACTIVE (EKS takes a few minutes)"
QUEUED = (
    "waiting to create its Fargate profile {profile}: EKS runs one profile operation per cluster at a time"
)
FULL = "no Fargate profile routes it and the cluster has {count} profiles, the most EKS allows (10)"
RECREATED = "recreated by its owner so that EKS routes it to Fargate (profile {profile})"


def fargate_selector(pod: Pod) -> FargateSelector:
    labels = sorted(
        (key, value)
        for key, value in pod.labels.items()
        if key not in VOLATILE_LABELS and not key.startswith(RESERVED_PREFIXES)
    )
    return FargateSelector(pod.namespace, tuple(labels[:MAX_LABELS]))


@dataclass(frozen=True)
class RecreatePod:
    namespace: str
    name: str
    uid: str
    profile: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServerlessPlan:
    create: FargateSelector | None = None
    delete: str = ""
    recreate: tuple[RecreatePod, ...] = ()
    pending: tuple[LeavePending, ...] = ()
    # Our profiles a live pod still needs, with the time it was last seen needing them.
    needed: Mapping[str, float] = field(default_factory=dict)


def _recreatable(pod: Pod) -> bool:
    owner = pod.controller
    return owner is not None and owner.get("kind") not in ("DaemonSet", "Node")


def route_serverless(
    pods: Sequence[Pod],
    profiles: Sequence[FargateProfile],
    live: Sequence[Pod],
    *,
    needed_before: Mapping[str, float],
    now: float,
    keep_seconds: float,
    allowed: bool = True,
) -> ServerlessPlan:
    """What to do for `pods` (pending, ours, put on serverless by the planner) given the cluster's
    `profiles` and its `live` pods (every pod not finished: to know which of our profiles still
    route or hold one). `allowed`: the policy still allows serverless; when it no longer does, a
    profile is needed only by a pod running through it that no controller would recreate (deleting
    the profile deletes its pods: their owners create them again, on the capacity now allowed)."""
    busy = any(p.status in (CREATING, DELETING) for p in profiles)
    create: FargateSelector | None = None
    recreate, pending = [], []
    for pod in pods:
        routing = sorted(
            (p for p in profiles if p.status == ACTIVE and p.matches(pod.namespace, pod.labels)),
            key=lambda p: p.name,
        )
        if routing:
            if _recreatable(pod):
                recreate.append(RecreatePod(pod.namespace, pod.name, pod.uid, routing[0].name))
            else:
                pending.append(LeavePending(pod.key, NOT_RECREATABLE.format(profile=routing[0].name)))
            continue
        selector = fargate_selector(pod)
        name = selector.profile_name
        if any(p.name == name and p.status == CREATING for p in profiles) or create == selector:
            pending.append(LeavePending(pod.key, WAITING.format(profile=name), remember=False))
        elif len(profiles) >= MAX_PROFILES:
            pending.append(LeavePending(pod.key, FULL.format(count=len(profiles))))
        elif busy or create is not None or any(p.name == name for p in profiles):
            pending.append(LeavePending(pod.key, QUEUED.format(profile=name), remember=False))
        else:
            create = selector
            pending.append(LeavePending(pod.key, WAITING.format(profile=name), remember=False))
    needed = _needed(pods, profiles, live, needed_before, now, allowed)
    delete = ""
    if create is None and not busy:
        idle = [
            p.name
            for p in profiles
            if p.ours and p.status == ACTIVE and now - needed.get(p.name, now) >= keep_seconds
        ]
        delete = min(idle, default="")
    return ServerlessPlan(create, delete, tuple(recreate), tuple(pending), needed)


def _needed(
    pods: Sequence[Pod],
    profiles: Sequence[FargateProfile],
    live: Sequence[Pod],
    needed_before: Mapping[str, float],
    now: float,
    allowed: bool,
) -> dict[str, float]:
    """Our profiles with when a pod last needed them: now when a live pod matches one (or was routed
    by it), else the time remembered (a profile never seen before counts as needed now: a worker
    that lost its memory must not delete what a pod may be about to use)."""
    needed: dict[str, float] = {}
    for profile in profiles:
        if not profile.ours or profile.status == DELETING:
            continue
        if allowed:
            # Routed by it, or waiting and matching it (a pod it routes once recreated).
            in_use = any(
                pod.labels.get(PROFILE_LABEL) == profile.name
                or (not pod.node_name and profile.matches(pod.namespace, pod.labels))
                for pod in [*pods, *live]
            )
        else:
            in_use = any(
                pod.labels.get(PROFILE_LABEL) == profile.name and not _recreatable(pod) for pod in live
            )
        needed[profile.name] = now if in_use else needed_before.get(profile.name, now)
    return needed
