"""The status of companions that members report (``Placement.companion_statuses``, read by the
loop), gathered on the federated object as Karmada aggregates these kinds:

- an Ingress's or LoadBalancer Service's addresses: ``status.loadBalancer.ingress`` holds what each
  member's controllers gave its copy there, member by member in the order of their names (two
  members' private addresses may be the same: each is kept). ``kubectl get`` shows them
  (EXTERNAL-IP, ADDRESS); Argo CD's health check calls both Progressing until there is one, and
  external-dns publishes them;
- an HPA's counts, metrics and conditions (``autoscaler_status``);
- a PersistentVolumeClaim's phase (Bound where every member's copy is; ``claims`` infers it from
  the pods until a member reports).

A companion that goes with workloads is gathered from the members those workloads are placed on (a
member the workload left no longer counts); a stand-alone one from the members its policy sent it to
(``Propagation.status``). Until a member gives an address the list is
empty (``loadBalancer: {}``, as kube-apiserver shows a Service whose load balancer is pending).
Unlike Karmada, a member's address without a hostname is not given the member's name as one: DNS
controllers would publish that name as a record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db.models import Q

from policies.federation.placements import FederationRows
from policies.kubeapi import store
from policies.kubeapi.autoscaler_status import autoscaler_status
from policies.kubeapi.custom_status import Key as CustomKey
from policies.kubeapi.custom_status import custom_reports, custom_status_changes
from policies.models import KubeObject, Placement, Propagation, Workload
from tenants.models import Organization

Json = dict[str, Any]
GROUPS = {
    "HorizontalPodAutoscaler": "autoscaling",
    "Ingress": "networking.k8s.io",
    "PersistentVolumeClaim": "",
    "Service": "",
}
# A claim's phases by how much they say: Lost in any member is Lost, any other not Bound is that.
_CLAIM_PHASES = ("Lost", "Pending", "Bound")
Key = tuple[str, str, str]  # (namespace, kind, name)


def _users(workloads: Iterable[Workload]) -> dict[Key, list[Workload]]:
    """By (namespace, kind, name), the live workloads that take the companion with them."""
    users: dict[Key, list[Workload]] = {}
    for workload in workloads:
        if workload.deleted_at is not None:
            continue
        for companion in workload.companion_summary or []:
            if companion.get("kind") in GROUPS:
                key = (workload.namespace, str(companion["kind"]), str(companion.get("name")))
                users.setdefault(key, []).append(workload)
    return users


def gathered(
    key: Key, users: Sequence[Workload], placements: Mapping[str, Sequence[Placement]]
) -> list[tuple[str, Json]]:
    """What the members where ``users`` run report of the object ``key``: (member name, status),
    by member name, one per member."""
    _, kind, name = key
    by_member: dict[str, Json] = {}
    for workload in users:
        for placement in placements.get(str(workload.pk), ()):
            reported = (placement.companion_statuses or {}).get(f"{kind}/{name}")
            if placement.replicas and reported:
                by_member.setdefault(placement.cluster.name, reported)
    return sorted(by_member.items())


def _balancer_status(kobj: KubeObject, reports: list[tuple[str, Json]]) -> Json | None:
    """The object's status with the members' addresses, or None when it has none to keep (a
    Service that is not a load balancer and shows no address)."""
    entries = [entry for _, balancer in reports for entry in balancer.get("ingress") or []]
    balanced = kobj.kind == "Ingress" or (kobj.body.get("spec") or {}).get("type") == "LoadBalancer"
    if not balanced:
        entries = []
        if not ((kobj.status.get("loadBalancer") or {}).get("ingress")):
            return None
    return {**kobj.status, "loadBalancer": {"ingress": entries} if entries else {}}


def _claim_status(kobj: KubeObject, reports: list[tuple[str, Json]]) -> Json:
    """Karmada's rule: Bound where every member's copy is, else the phase that says most; capacity
    and access modes as the first member that bound it reports them."""
    phases = [str(status.get("phase") or "Pending") for _, status in reports]
    phase = next((p for p in _CLAIM_PHASES if p in phases), phases[0])
    bound = next((status for _, status in reports if status.get("phase") == "Bound"), {})
    found = {**kobj.status, "phase": phase}
    for field in ("capacity", "accessModes"):
        if field in bound:
            found[field] = bound[field]
    return found


def _status(kobj: KubeObject, reports: list[tuple[str, Json]]) -> Json | None:
    if not reports and kobj.kind in ("HorizontalPodAutoscaler", "PersistentVolumeClaim"):
        return None  # before any member reports, as it was (a claim's phase inferred, ``claims``)
    if kobj.kind == "HorizontalPodAutoscaler":
        return autoscaler_status(reports)
    if kobj.kind == "PersistentVolumeClaim":
        return _claim_status(kobj, reports)
    return _balancer_status(kobj, reports)


def workloads_and_placements(
    organization: Organization, rows: FederationRows | None
) -> tuple[Iterable[Workload], Mapping[str, Sequence[Placement]]]:
    """The organization's workloads and their placements by workload id: the pass's rows when
    given, else read."""
    if rows is not None:
        return rows.workloads.values(), rows.placements
    placements: dict[str, list[Placement]] = {}
    for placement in Placement.objects.filter(organization=organization).select_related("cluster"):
        placements.setdefault(str(placement.workload_id), []).append(placement)
    return Workload.objects.filter(organization=organization), placements


def companion_statuses_sync(organization: Organization, rows: FederationRows | None) -> int:
    """Each companion Ingress's, Service's, HPA's and claim's status from the members, and each
    stand-alone custom resource's (``custom_status``). How many changed."""
    workloads, placements = workloads_and_placements(organization, rows)
    users = _users(workloads)
    alone, custom = _standalone_reports(organization)
    changes: list[tuple[KubeObject, Json]] = custom_status_changes(organization, custom) if custom else []
    if not users and not alone:
        return store.statuses_write_unless_moved(organization, changes)
    candidates = KubeObject.objects.filter(
        organization=organization,
        kind__in=GROUPS,
        namespace__in={namespace for namespace, _, _ in [*users, *alone]},
        deleted_at__isnull=True,
    )
    for kobj in candidates:
        key = (kobj.namespace, kobj.kind, kobj.name)
        if GROUPS[kobj.kind] != kobj.group or (key not in users and key not in alone):
            continue
        reports = gathered(key, users[key], placements) if key in users else alone[key]
        status = _status(kobj, reports)
        if status is not None and status != kobj.status:
            changes.append((kobj, status))
    return store.statuses_write_unless_moved(organization, changes)


def _standalone_reports(
    organization: Organization,
) -> tuple[dict[Key, list[tuple[str, Json]]], dict[CustomKey, list[tuple[str, Json]]]]:
    """By (namespace, kind, name), what the members a stand-alone object of the kinds above went to
    report of it (``Propagation.status``), by member name; and the custom resources' reports
    (``custom_status``)."""
    found: dict[Key, list[tuple[str, Json]]] = {}
    rows = Propagation.objects.filter(
        Q(kind__in=GROUPS, api_version="") | ~Q(api_version=""), organization=organization
    ).exclude(status={})
    custom = []
    for row in rows.select_related("cluster").order_by("cluster__name"):
        if row.api_version:
            custom.append(row)
        else:
            found.setdefault((row.namespace, row.kind, row.name), []).append((row.cluster.name, row.status))
    return found, custom_reports(custom)
