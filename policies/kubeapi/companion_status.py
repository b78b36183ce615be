"""The status of companions that members report (``Placement.companion_statuses``, read by the
loop), gathered on the federated object as Karmada aggregates these kinds:

- an Ingress's or LoadBalancer Service's addresses: ``status.loadBalancer.ingress`` holds what each
  member's controllers gave its copy there, member by member in the order of their names (two
  members' private addresses may be the same: each is kept). ``kubectl get`` shows them
  (EXTERNAL-IP, ADDRESS); Argo CD's health check calls both Progressing until there is one, and
  external-dns publishes them;
- an HPA's counts, metrics and conditions (``autoscaler_status``).

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

from policies.federation.placements import FederationRows
from policies.kubeapi import store
from policies.kubeapi.autoscaler_status import autoscaler_status
from policies.models import KubeObject, Placement, Propagation, Workload
from tenants.models import Organization

Json = dict[str, Any]
GROUPS = {"HorizontalPodAutoscaler": "autoscaling", "Ingress": "networking.k8s.io", "Service": ""}
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


def _status(kobj: KubeObject, reports: list[tuple[str, Json]]) -> Json | None:
    if kobj.kind == "HorizontalPodAutoscaler":  # before any member reports, as it was
        return autoscaler_status(reports) if reports else None
    return _balancer_status(kobj, reports)


def companion_statuses_sync(organization: Organization, rows: FederationRows | None) -> int:
    """Each companion Ingress's, Service's and HPA's status from the members. How many changed."""
    if rows is not None:
        workloads: Iterable[Workload] = rows.workloads.values()
        placements: Mapping[str, Sequence[Placement]] = rows.placements
    else:
        workloads = Workload.objects.filter(organization=organization)
        placements = {}
        for placement in Placement.objects.filter(organization=organization).select_related("cluster"):
            placements.setdefault(str(placement.workload_id), []).append(placement)  # type: ignore[attr-defined]
    users = _users(workloads)
    alone = _standalone_reports(organization)
    if not users and not alone:
        return 0
    candidates = KubeObject.objects.filter(
        organization=organization,
        kind__in=GROUPS,
        namespace__in={namespace for namespace, _, _ in [*users, *alone]},
        deleted_at__isnull=True,
    )
    changes: list[tuple[KubeObject, Json]] = []
    for kobj in candidates:
        key = (kobj.namespace, kobj.kind, kobj.name)
        if GROUPS[kobj.kind] != kobj.group or (key not in users and key not in alone):
            continue
        reports = gathered(key, users[key], placements) if key in users else alone[key]
        status = _status(kobj, reports)
        if status is not None and status != kobj.status:
            changes.append((kobj, status))
    return store.statuses_write_unless_moved(organization, changes)


def _standalone_reports(organization: Organization) -> dict[Key, list[tuple[str, Json]]]:
    """By (namespace, kind, name), what the members a stand-alone object went to report of it
    (``Propagation.status``), by member name."""
    found: dict[Key, list[tuple[str, Json]]] = {}
    rows = Propagation.objects.filter(organization=organization, kind__in=GROUPS, api_version="").exclude(
        status={}
    )
    for row in rows.select_related("cluster").order_by("cluster__name"):
        found.setdefault((row.namespace, row.kind, row.name), []).append((row.cluster.name, row.status))
    return found
