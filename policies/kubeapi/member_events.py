"""The members' events of their copies of the organization's workloads and of the objects those
use that their controllers act on (HorizontalPodAutoscalers, Services, PVCs, Ingresses), read when a
list of events asks for them (never stored): ``kubectl describe deployment web`` shows, after the
federation's decisions, what happened where the replicas went (``east: Scaled up replica set
web-5d8f from 0 to 2``), ``kubectl describe hpa web`` what each member's autoscaler did (``east: New
size: 4; reason: cpu resource utilization (percentage of request) above target``), and ``kubectl get
events`` lists them with the rest.

Each is served as an event of the endpoint's object (its uid, so ``describe``'s selector selects
it), its message starting with the member's name, and only from the members that hold a placement
of that very workload (for the objects workloads use: of a workload of their namespace, as
companions go with them): a cluster connected to two organizations shows each only its own. A member
that cannot be read is named in a warning.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.db.models import Q

from clusters.models import Cluster
from policies.federation.manifests import WORKLOAD_KINDS
from policies.kubeapi import member_objects, store
from policies.kubeapi.selection import fields_match
from policies.models import KubeObject, Placement
from tenants.models import Organization

Json = dict[str, Any]
Filters = Mapping[str, tuple[str, str]]
_Key = tuple[str, str, str]  # kind, namespace, name
# What the members' controllers record events about among the objects workloads take with them.
COMPANION_KINDS = ("HorizontalPodAutoscaler", "Service", "PersistentVolumeClaim", "Ingress")
KINDS = (*WORKLOAD_KINDS, *COMPANION_KINDS)


def asks_for(kind: str, filters: Filters) -> bool:
    """A list of events that may be about one of ``KINDS``: every event, or one of those kinds'."""
    asked = filters.get("involvedObject.kind")
    return kind == "Event" and (asked is None or (asked[0] == "=" and asked[1] in KINDS))


def listed(organization: Organization, namespace: str, filters: Filters) -> tuple[list[Json], list[str]]:
    """The members' events of the objects of ``namespace`` (every namespace when empty) that the
    field selector selects, and a warning per member not read."""
    objects = {(k.kind, k.namespace, k.name): k for k in _objects(organization, namespace, filters)}
    if not objects:
        return [], []
    placed = _placed(organization, objects)
    clusters = list(
        Cluster.objects.filter(organization=organization, pk__in=list(placed))
        .select_related("organization", "cloud_account")
        .order_by("name")
    )
    kinds = {kind for kind, _, _ in objects}
    selector = f"involvedObject.kind={next(iter(kinds))}" if len(kinds) == 1 else "involvedObject.kind!=Pod"
    answers = member_objects.ask(
        clusters,
        lambda api, _: list(api.list("Event", namespace=namespace or None, field_selector=selector)),
    )
    events = []
    for cluster, found in answers.answered:
        for event in found:
            involved = event.get("involvedObject") or {}
            key = (str(involved.get("kind")), str(involved.get("namespace")), str(involved.get("name")))
            if key in placed[cluster.pk]:
                served = _served(event, cluster, objects[key])
                if fields_match(filters, served):
                    events.append(served)
    return events, [f"the events in {problem} are left out" for problem in answers.problems]


def _placed(organization: Organization, objects: Mapping[_Key, KubeObject]) -> dict[Any, set[_Key]]:
    """Which objects each member holds a copy of, by cluster id: a workload's, where it is placed;
    another's, where a workload of its namespace is."""
    placed: dict[Any, set[_Key]] = {}
    workloads = {k.workload_id: key for key, k in objects.items() if k.kind in WORKLOAD_KINDS}
    rows = Placement.objects.filter(organization=organization, workload_id__in=list(workloads))
    for cluster_id, workload_id in rows.values_list("cluster_id", "workload_id"):
        placed.setdefault(cluster_id, set()).add(workloads[workload_id])
    used = {key for key in objects if key[0] not in WORKLOAD_KINDS}
    if used:
        namespaces = {namespace for _, namespace, _ in used}
        rows = Placement.objects.filter(organization=organization, workload__namespace__in=list(namespaces))
        for cluster_id, namespace in rows.values_list("cluster_id", "workload__namespace").distinct():
            placed.setdefault(cluster_id, set()).update(key for key in used if key[1] == namespace)
    return placed


def _objects(organization: Organization, namespace: str, filters: Filters) -> list[KubeObject]:
    """The endpoint's objects the selector may name (by kind, name and uid): workloads linked to
    their federated workloads, and the objects of ``COMPANION_KINDS``."""
    found = KubeObject.objects.filter(
        Q(kind__in=list(WORKLOAD_KINDS), workload__isnull=False) | Q(kind__in=list(COMPANION_KINDS)),
        organization=organization,
    )
    if namespace:
        found = found.filter(namespace=namespace)
    for field, lookup in (("involvedObject.kind", "kind"), ("involvedObject.name", "name")):
        asked = filters.get(field)
        if asked is not None and asked[0] == "=":
            found = found.filter(**{lookup: asked[1]})
    uid = filters.get("involvedObject.uid")
    if uid is not None and uid[0] == "=":
        try:
            found = found.filter(pk=uuid.UUID(uid[1]))
        except ValueError:
            return []
    return list(found.only("pk", "kind", "namespace", "name", "group", "version", "workload_id"))


def _served(event: Json, cluster: Cluster, kobj: KubeObject) -> Json:
    involved = dict(event.get("involvedObject") or {})
    involved.update(uid=str(kobj.pk), apiVersion=store.api_version(kobj))
    involved.pop("resourceVersion", None)  # the member's copy's, meaningless here
    message = f"{cluster.name}: {event.get('message') or ''}"
    return member_objects.as_served(
        {**event, "involvedObject": involved, "message": message}, cluster, "Event"
    )
