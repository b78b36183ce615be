"""The addresses of a federated Ingress or LoadBalancer Service: ``status.loadBalancer.ingress``
gathers what each member's controllers gave its copy there (``Placement.load_balancers``, read by
the loop), member by member in the order of their names, as Karmada aggregates these two kinds
(two members' private addresses may be the same: each is kept). ``kubectl get`` shows them (EXTERNAL-IP, ADDRESS); Argo CD's health check calls
both Progressing until there is one, and external-dns publishes them.

Only companions that go with workloads are gathered, from the members those workloads are placed
on (a member the workload left no longer counts). Until a member gives an address the list is
empty (``loadBalancer: {}``, as kube-apiserver shows a Service whose load balancer is pending).
Unlike Karmada, a member's address without a hostname is not given the member's name as one: DNS
controllers would publish that name as a record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from policies.federation.placements import FederationRows
from policies.kubeapi import store
from policies.models import KubeObject, Placement, Workload
from tenants.models import Organization

Json = dict[str, Any]
GROUPS = {"Ingress": "networking.k8s.io", "Service": ""}
Key = tuple[str, str, str]  # (namespace, kind, name)


def _users(workloads: Iterable[Workload]) -> dict[Key, list[Workload]]:
    """By (namespace, kind, name), the live workloads that take the Ingress or Service with them."""
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
) -> list[Json]:
    """The addresses the members where ``users`` run gave the object ``key``, by member name."""
    _, kind, name = key
    by_member: dict[str, list[Json]] = {}
    for workload in users:
        for placement in placements.get(str(workload.pk), ()):
            balancer = (placement.load_balancers or {}).get(f"{kind}/{name}") or {}
            if placement.replicas and balancer.get("ingress"):
                by_member.setdefault(placement.cluster.name, list(balancer["ingress"]))
    return [entry for member in sorted(by_member) for entry in by_member[member]]


def _status(kobj: KubeObject, entries: list[Json]) -> Json | None:
    """The object's status with the addresses, or None when it has none to keep (a Service that is
    not a load balancer and shows no address)."""
    balanced = kobj.kind == "Ingress" or (kobj.body.get("spec") or {}).get("type") == "LoadBalancer"
    if not balanced:
        entries = []
        if not ((kobj.status.get("loadBalancer") or {}).get("ingress")):
            return None
    return {**kobj.status, "loadBalancer": {"ingress": entries} if entries else {}}


def load_balancer_statuses_sync(organization: Organization, rows: FederationRows | None) -> int:
    """Each companion Ingress's and Service's addresses from the members. How many changed."""
    if rows is not None:
        workloads: Iterable[Workload] = rows.workloads.values()
        placements: Mapping[str, Sequence[Placement]] = rows.placements
    else:
        workloads = Workload.objects.filter(organization=organization)
        placements = {}
        for placement in Placement.objects.filter(organization=organization).select_related("cluster"):
            placements.setdefault(str(placement.workload_id), []).append(placement)  # type: ignore[attr-defined]
    users = _users(workloads)
    if not users:
        return 0
    candidates = KubeObject.objects.filter(
        organization=organization,
        kind__in=GROUPS,
        namespace__in={namespace for namespace, _, _ in users},
        deleted_at__isnull=True,
    )
    changes: list[tuple[KubeObject, Json]] = []
    for kobj in candidates:
        key = (kobj.namespace, kobj.kind, kobj.name)
        if GROUPS[kobj.kind] != kobj.group or key not in users:
            continue
        status = _status(kobj, gathered(key, users[key], placements))
        if status is not None and status != kobj.status:
            changes.append((kobj, status))
    return store.statuses_write_unless_moved(organization, changes)
