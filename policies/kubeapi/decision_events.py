"""The federation's decisions about a workload, as Events of its object on the endpoint.

Where a workload's replicas went and why is in the decision log (``Decision``, the workload page's
"Why here"). ``kubectl describe deployment web`` and Argo CD's events tab read Events, so the
decisions of the last hour are served as Events of the workload's object, as Karmada's scheduler
records ``ScheduleBindingSucceed`` on the resource template: read from the log when asked, nothing
stored (a burst of a thousand placements writes no event rows), and not watched (a watch of events
sees the endpoint's own). Reasons: ``Placed`` (Normal), ``FailedPlacement`` (Warning: some or all
replicas found no member), ``Failover`` (Warning: moved off a failed member) and ``ScaledByHPAs``
(Normal: the members' HPAs changed the count); named apart from the members' own pod events
(``Scheduled``, ``FailedScheduling``), which a list of events also holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.utils import timezone

from policies.federation.manifests import WORKLOAD_KINDS
from policies.kubeapi import store
from policies.kubeapi.propagation import COMPONENT, EVENT_TTL
from policies.kubeapi.selection import fields_match
from policies.models import Decision, DecisionKind, KubeObject
from tenants.models import Organization

Json = dict[str, Any]
WINDOW: timedelta = EVENT_TTL  # as long as the endpoint keeps its own events
LIMIT = 500  # the latest, for one list
_KINDS = (DecisionKind.PLACEMENT, DecisionKind.FAILOVER, DecisionKind.AUTOSCALE)
_UIDS = uuid.UUID("6f1d2c52-8a53-4c1e-9d1e-2f7c3b7a9e10")  # decision events' uids: uuid5 under this


def asks_for(kind: str, filters: Mapping[str, tuple[str, str]]) -> bool:
    """A list of events that may be about workloads: every event (``kubectl get events``), or one
    object's (``kubectl describe``, which names no kind), or a workload kind's."""
    wanted = filters.get("involvedObject.kind")
    return kind == "Event" and (wanted is None or wanted[0] != "=" or wanted[1] in WORKLOAD_KINDS)


def listed(organization: Organization, namespace: str, filters: Mapping[str, tuple[str, str]]) -> list[Json]:
    """The events the field selector selects among the decisions of the last ``WINDOW`` about the
    live workloads of ``namespace`` (every namespace when empty), oldest first."""
    objects = KubeObject.objects.filter(
        organization=organization,
        kind__in=list(WORKLOAD_KINDS),
        workload__isnull=False,
        deleted_at__isnull=True,
    ).only(*_OBJECT_FIELDS)
    decisions = Decision.objects.filter(
        organization=organization, kind__in=_KINDS, created_at__gte=timezone.now() - WINDOW
    ).only("id", "workload_id", "kind", "reason", "chosen", "inputs", "created_at")
    if namespace:
        objects = objects.filter(namespace=namespace)
        decisions = decisions.filter(workload__namespace=namespace)
    uid, name = filters.get("involvedObject.uid"), filters.get("involvedObject.name")
    named = (uid is not None and uid[0] == "=") or (name is not None and name[0] == "=")
    if named:  # one object's (kubectl describe): that object first, then its decisions
        if uid is not None and uid[0] == "=":
            try:
                objects = objects.filter(pk=uuid.UUID(uid[1]))
            except ValueError:
                return []  # not a uid: it names nothing here
        if name is not None and name[0] == "=":
            objects = objects.filter(name=name[1])
        by_workload = {kobj.workload_id: kobj for kobj in objects}
        if not by_workload:
            return []
        decisions = decisions.filter(workload_id__in=list(by_workload))
    latest = list(decisions.order_by("-created_at", "-id")[:LIMIT])
    if not named:  # every event: the latest decisions first, then only their objects
        by_workload = {
            kobj.workload_id: kobj for kobj in objects.filter(workload_id__in={d.workload_id for d in latest})
        }
    events = _correlated(
        [_event(d, by_workload[d.workload_id]) for d in reversed(latest) if d.workload_id in by_workload]
    )
    return [event for event in events if fields_match(filters, event)]


def _correlated(events: list[Json]) -> list[Json]:
    """Repeats of an object's last event (the same type, reason and message: a new generation placed
    as the last one was) counted on it, as client-go's event correlator does: one event with its
    ``count``, first and last time."""
    last: dict[str, Json] = {}
    kept: list[Json] = []
    for event in events:
        uid = event["involvedObject"]["uid"]
        before = last.get(uid)
        if before is not None and all(before[key] == event[key] for key in ("type", "reason", "message")):
            before["count"] += 1
            before["lastTimestamp"] = event["lastTimestamp"]
            continue
        last[uid] = event
        kept.append(event)
    return kept


_OBJECT_FIELDS = ("id", "workload_id", "group", "version", "kind", "namespace", "name", "resource_version")


def _event(decision: Decision, kobj: KubeObject) -> Json:
    kind_type, reason = _reason(decision)
    when = store.timestamp(decision.created_at)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{kobj.name}.d{decision.id:x}",
            "namespace": kobj.namespace,
            "uid": str(uuid.uuid5(_UIDS, str(decision.id))),
            "resourceVersion": str(kobj.resource_version),
            "creationTimestamp": when,
        },
        "involvedObject": {
            "apiVersion": store.api_version(kobj),
            "kind": kobj.kind,
            "namespace": kobj.namespace,
            "name": kobj.name,
            "uid": str(kobj.pk),
        },
        "reason": reason,
        "message": _message(decision)[:1024],
        "type": kind_type,
        "count": 1,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": "",
        "action": "Schedule",
    }


def _reason(decision: Decision) -> tuple[str, str]:
    if decision.kind == DecisionKind.AUTOSCALE:
        return "Normal", "ScaledByHPAs"
    if decision.kind == DecisionKind.FAILOVER:
        return "Warning", "Failover"
    if (decision.inputs or {}).get("outcome", "placed") != "placed":
        return "Warning", "FailedPlacement"
    return "Normal", "Placed"


def _message(decision: Decision) -> str:
    if decision.kind == DecisionKind.AUTOSCALE:
        return decision.reason  # names the counts it moved between
    replicas = {
        name: count for name, count in ((decision.chosen or {}).get("replicas") or {}).items() if count
    }
    where = ", ".join(f"{name} {count}" for name, count in sorted(replicas.items()))
    unplaced = int((decision.inputs or {}).get("unplaced") or 0)
    parts = [f"replicas: {where}" if where else "no member took a replica"]
    if unplaced:
        parts.append(f"{unplaced} not placed")
    return f"{decision.reason} ({'; '.join(parts)})"
