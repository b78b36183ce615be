"""Reads of federation policies, workloads, their placements and decisions (organization first)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from clusters.models import Cluster
from policies.federation.spec import Member, members_of
from policies.models import Decision, DecisionKind, FederationPolicy, Placement, Propagation, Workload
from tenants.models import Organization

PLACEMENT_DECISIONS = (DecisionKind.PLACEMENT, DecisionKind.FAILOVER, DecisionKind.AUTOSCALE)


def federation_policy_list(organization: Organization) -> QuerySet[FederationPolicy]:
    return (
        FederationPolicy.objects.filter(organization=organization)
        .annotate(workload_count=Count("workloads", filter=Q(workloads__deleted_at__isnull=True)))
        .select_related("updated_by")
        .order_by("name")
    )


def federation_members(organization: Organization) -> list[Member]:
    """The organization's clusters, as policy validation and previews see them."""
    return members_of(list(Cluster.objects.filter(organization=organization).order_by("name")))


def cluster_names(organization: Organization) -> dict[str, str]:
    return {
        str(pk): name
        for pk, name in Cluster.objects.filter(organization=organization).values_list("pk", "name")
    }


def workload_list(organization: Organization, filters: Mapping[str, Any] | None = None) -> QuerySet[Workload]:
    """Workloads with their policy and placements (for the placement summary), newest first.
    ``filters`` may hold ``status``, ``namespace``, ``policy`` (id) and ``kind``."""
    queryset = (
        Workload.objects.filter(organization=organization)
        .select_related("policy")
        .prefetch_related(Prefetch("placements", queryset=Placement.objects.select_related("cluster")))
        .order_by("-created_at", "namespace", "name")
    )
    for key, field in (
        ("status", "status"),
        ("namespace", "namespace"),
        ("policy", "policy_id"),
        ("kind", "kind"),
    ):
        value = (filters or {}).get(key)
        if value:
            queryset = queryset.filter(**{field: value})
    return queryset


def workload_as_submitted(workload: Workload) -> Workload:
    """A workload just stored, ready to show without reading it back: it has no placements (nor
    decisions) yet, and its policy is the one it was stored with. A submission answers from it,
    three statements fewer than ``workload_list`` and the decisions would cost (bench/federation_fleet.py
    submits 1,000 workloads through the API). The empty placements are left as a prefetch leaves
    its results (``prefetch_related_objects`` with an empty queryset costs as much CPU as a
    statement; a bare ``none()`` would be compiled again when read)."""
    placements = Placement.objects.none()
    placements._result_cache = []
    cache = workload.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[Workload.placements.rel.cache_name] = placements
    return workload


def workload_placements(workload: Workload) -> QuerySet[Placement]:
    return Placement.objects.filter(
        organization_id=workload.organization_id, workload=workload
    ).select_related("cluster")


def workload_decisions(workload: Workload) -> QuerySet[Decision]:
    return Decision.objects.filter(
        organization_id=workload.organization_id, workload=workload, kind__in=PLACEMENT_DECISIONS
    ).order_by("-created_at", "-id")


def policies_matching(
    organization: Organization, namespace: str, labels: Mapping[str, str]
) -> list[FederationPolicy]:
    """Policies whose workload selector selects a workload in ``namespace`` with ``labels``, the
    most specific first (more selector terms), then by name."""
    matching = [
        policy
        for policy in FederationPolicy.objects.filter(organization=organization)
        if selects_workload(policy, namespace, labels)
    ]
    return sorted(matching, key=lambda p: (-(bool(p.workload_namespaces) + len(p.workload_labels)), p.name))


def selects_workload(policy: FederationPolicy, namespace: str, labels: Mapping[str, str]) -> bool:
    if policy.workload_namespaces and namespace not in policy.workload_namespaces:
        return False
    return all(labels.get(key) == value for key, value in (policy.workload_labels or {}).items())


def organization_ids_with_federation_work() -> list[str]:
    """Organizations whose workloads or stand-alone objects on members the federation loop must
    look after (beat fans out over these)."""
    ids = {*Workload.objects.values_list("organization_id", flat=True).distinct()}
    ids |= {*Propagation.objects.values_list("organization_id", flat=True).distinct()}
    return sorted(str(pk) for pk in ids)


def workloads_changed_since(organization_id: str, moment: datetime) -> bool:
    """Whether a workload of the organization was submitted, changed or deleted after ``moment``
    (the federation loop's cue to run another pass at once, ``workers.federation.runner``)."""
    return (
        Workload.objects.filter(organization_id=organization_id)
        .filter(Q(created_at__gt=moment) | Q(updated_at__gt=moment) | Q(deleted_at__gt=moment))
        .exists()
    )
