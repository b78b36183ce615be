"""Propagation problems made visible on the endpoint, as Karmada shows them:

- **A ``FullyApplied`` condition** in the federated object's ``status.conditions`` (Karmada's
  ResourceBinding condition, with its reasons ``FullyAppliedSuccess`` / ``FullyAppliedFailed``):
  ``False`` with a message naming each member that refused the object and why, ``True`` once every
  member it goes to has it. Kubernetes condition conventions hold: ``lastTransitionTime`` changes
  only when ``status`` does, ``observedGeneration`` is the object's generation. Workloads carry it
  next to the conditions their status aggregation writes; stand-alone objects and custom resources
  carry it where the real schema has ``status.conditions`` (Service, PVC, HPA, and custom
  resources, whose status is free-form: a CRD without a status subresource keeps it in the main
  object, which is how the endpoint serves it). ConfigMaps, Secrets, ServiceAccounts, Roles,
  RoleBindings and Ingresses have no conditions in their schema, so they get events only.
- **Warning events** (core/v1 ``Event``, read-only on the endpoint) on the object, one per
  (object, member, reason), as Karmada's execution controller records ``SyncFailed`` on the
  resource: a repeat bumps ``count`` and ``lastTimestamp`` (client-go's correlator) at most once a
  minute, not one object per retry; events expire an hour after their last change (kube-apiserver's
  default ``--event-ttl``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from policies.kubeapi import store
from policies.kubeapi.resources import by_kind
from policies.models import KubeCounter, KubeObject, Placement, Propagation, Workload
from tenants.models import Organization

Json = dict[str, Any]
CONDITION = "FullyApplied"
EVENT_REASON = "SyncFailed"  # Karmada's EventReasonSyncWorkloadFailed
EVENT_TTL = timedelta(hours=1)
EVENT_REFRESH = timedelta(minutes=1)
COMPONENT = "nodeless-federation"
# Built-in kinds whose status has conditions (custom resources: all of them).
_CONDITIONED = {"Service", "PersistentVolumeClaim", "HorizontalPodAutoscaler"}


@dataclass(frozen=True)
class Problem:
    cluster: str  # the member's name
    message: str


def condition(previous: Sequence[Any], problems: Sequence[Problem], *, pending: int, generation: int) -> Json:
    """The ``FullyApplied`` condition now, its transition time kept from ``previous`` (the object's
    conditions) when its status is unchanged."""
    if problems:
        status, reason = "False", "FullyAppliedFailed"
        message = "; ".join(f"cluster {p.cluster}: {p.message}" for p in problems)
    elif pending:
        status, reason = "False", "Applying"
        message = f"not yet applied on {pending} member cluster{'s' if pending != 1 else ''}"
    else:
        status, reason = "True", "FullyAppliedSuccess"
        message = "applied on every member cluster it goes to"
    before: Mapping[str, Any] = next(
        (c for c in previous if isinstance(c, Mapping) and c.get("type") == CONDITION), {}
    )
    changed_at = str(before.get("lastTransitionTime") or "")
    if before.get("status") != status or not changed_at:
        changed_at = store.timestamp(timezone.now())
    return {
        "type": CONDITION,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": changed_at,
        "reason": reason,
        "message": message[:1000],
    }


def with_condition(status: Json, found: Json) -> Json:
    """``status`` with ``found`` replacing the condition of its type (others kept, in order)."""
    others = [
        c
        for c in status.get("conditions") or []
        if not (isinstance(c, Mapping) and c.get("type") == CONDITION)
    ]
    return {**status, "conditions": [*others, found]}


def workload_problems(workload: Workload, placements: Sequence[Placement]) -> tuple[list[Problem], int]:
    """(members that refused the current generation, with why; how many others are still to apply)."""
    problems: list[Problem] = []
    pending = 0
    for placement in placements:
        if not placement.replicas:
            continue
        applied = (
            placement.applied_generation == workload.generation
            and placement.applied_replicas == placement.replicas
        )
        if applied:
            continue
        if placement.reason:
            problems.append(Problem(placement.cluster.name, placement.reason))
        else:
            pending += 1
    return problems, pending


# --- stand-alone objects and custom resources ------------------------------------------------------


def standalone_statuses_sync(organization: Organization, counter: KubeCounter) -> int:
    """Each stand-alone object's condition and events from its ``Propagation`` rows (under the
    counter lock, as the workloads' status). How many objects changed."""
    rows = list(
        Propagation.objects.filter(organization=organization, object_uid__isnull=False).select_related(
            "cluster"
        )
    )
    by_object: dict[str, list[Propagation]] = {}
    for row in rows:
        by_object.setdefault(str(row.object_uid), []).append(row)
    changed = 0
    objects = KubeObject.objects.filter(
        organization=organization, pk__in=list(by_object), deleted_at__isnull=True
    ).order_by("pk")
    for kobj in objects:
        mine = by_object[str(kobj.pk)]
        problems = [Problem(r.cluster.name, r.problem) for r in mine if r.problem]
        pending = sum(1 for r in mine if not r.problem and r.applied_version != kobj.resource_version)
        events_record(organization, counter, kobj, problems)
        if not _has_conditions(kobj):
            continue
        status = dict(kobj.status or {})
        found = condition(
            status.get("conditions") or [], problems, pending=pending, generation=kobj.generation
        )
        updated = with_condition(status, found)
        if updated != kobj.status:
            store.touch_status(organization, counter, kobj, updated)
            changed += 1
    return changed


def _has_conditions(kobj: KubeObject) -> bool:
    builtin = by_kind(kobj.group, kobj.kind)
    return builtin is None or kobj.kind in _CONDITIONED


def problems_in_namespace(organization: Organization, namespace: str) -> list[Propagation]:
    """The stand-alone objects and custom resources of a namespace some member refused."""
    return list(
        Propagation.objects.filter(organization=organization, namespace=namespace)
        .exclude(problem="")
        .select_related("cluster")
        .order_by("kind", "name", "cluster__name")
    )


# --- events ----------------------------------------------------------------------------------------


def _event_name(kobj: KubeObject, cluster: str, reason: str) -> str:
    digest = hashlib.sha256(f"{kobj.pk}|{cluster}|{reason}".encode()).hexdigest()[:16]
    return f"{kobj.name}.{digest}"


def events_record(
    organization: Organization, counter: KubeCounter, kobj: KubeObject, problems: Sequence[Problem]
) -> int:
    """A Warning event per member that refused ``kobj``; a repeat of one bumps its count. How many
    were written."""
    resource = by_kind("", "Event")
    assert resource is not None
    now = timezone.now()
    written = 0
    for problem in problems:
        name = _event_name(kobj, problem.cluster, EVENT_REASON)
        message = (
            f"Failed to create or update resource({kobj.namespace}/{kobj.name}) in member "
            f"cluster({problem.cluster}): {problem.message}"
        )
        existing = store.load(organization, resource, kobj.namespace, name)
        if existing is not None:
            body = store.stored_body(existing)
            last = parse_datetime(str(body.get("lastTimestamp") or ""))
            if body.get("message") == message and last is not None and now - last < EVENT_REFRESH:
                continue
            count = int(body.get("count") or 1) + 1
            first = str(body.get("firstTimestamp") or store.timestamp(now))
        else:
            count, first = 1, store.timestamp(now)
        event = _event(kobj, name, problem, message, count=count, first=first, now=now)
        store.save(organization, counter, resource, kobj.namespace, name, store.Write(event, {}, 1), existing)
        written += 1
    return written


def _event(
    kobj: KubeObject, name: str, problem: Problem, message: str, *, count: int, first: str, now: datetime
) -> Json:
    served = store.resource_of(kobj)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": kobj.namespace},
        "involvedObject": {
            "apiVersion": served.group_version,
            "kind": kobj.kind,
            "namespace": kobj.namespace,
            "name": kobj.name,
            "uid": str(kobj.pk),
            "resourceVersion": str(kobj.resource_version),
        },
        "reason": EVENT_REASON,
        "message": message[:1024],
        "type": "Warning",
        "count": count,
        "firstTimestamp": first,
        "lastTimestamp": store.timestamp(now),
        "source": {"component": COMPONENT, "host": problem.cluster},
        "reportingComponent": COMPONENT,
        "reportingInstance": problem.cluster,
        "action": "Apply",
    }


def events_expire(organization: Organization, counter: KubeCounter) -> int:
    """Remove events not written for ``EVENT_TTL`` (watches see them go), whoever wrote them and
    whatever their ``lastTimestamp`` says, as kube-apiserver's ``--event-ttl`` does. How many went."""
    cutoff = timezone.now() - EVENT_TTL
    expired = KubeObject.objects.filter(
        organization=organization, group="", resource="events", written_at__lt=cutoff
    )
    gone = 0
    for kobj in expired:
        store.remove(organization, counter, kobj)
        gone += 1
    return gone
