"""Reads of policies, organization first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, Q, QuerySet

from clusters.models import Cluster
from policies.models import Decision, ProvisioningPolicy, ProvisioningPolicyRevision
from policies.provisioning_settings import EDITABLE_FIELDS, policy_settings
from tenants.models import Organization

_BUILT_IN = ProvisioningPolicy(version=0)


@dataclass(frozen=True)
class PolicyInForce:
    """The provisioning policy that applies to a cluster, and where it comes from."""

    policy: ProvisioningPolicy | None
    settings: dict[str, Any]
    source: str  # "cluster", "organization" or "built-in"

    @property
    def version_label(self) -> str:
        if self.policy is None:
            return "built-in defaults"
        return f"{self.source} policy v{self.policy.version}"


def provisioning_policy_in_force(cluster: Cluster) -> PolicyInForce:
    return provisioning_policies_in_force(cluster.organization_id, [cluster])[cluster.pk]


def provisioning_policies_in_force(
    organization_id: Any, clusters: Sequence[Cluster]
) -> dict[Any, PolicyInForce]:
    """The policy in force on each of the organization's `clusters` (by cluster id), read in one query."""
    return provisioning_policies_in_force_of([c for c in clusters if c.organization_id == organization_id])


def provisioning_policies_in_force_of(clusters: Sequence[Cluster]) -> dict[Any, PolicyInForce]:
    """The policy in force on each of `clusters`, of any organizations (by cluster id), read in one
    query: a batch of reconcile passes over many organizations' clusters reads them together. A
    cluster's own policy counts only within its organization."""
    if not clusters:
        return {}
    organization_ids = {cluster.organization_id for cluster in clusters}
    policies = {
        (policy.organization_id, policy.cluster_id): policy
        for policy in ProvisioningPolicy.objects.filter(
            Q(cluster__in=clusters) | Q(cluster=None), organization_id__in=organization_ids
        )
    }
    in_force = {}
    for cluster in clusters:
        own = policies.get((cluster.organization_id, cluster.pk))
        default = policies.get((cluster.organization_id, None))
        if own is not None:
            in_force[cluster.pk] = PolicyInForce(own, policy_settings(own), "cluster")
        elif default is not None:
            in_force[cluster.pk] = PolicyInForce(default, policy_settings(default), "organization")
        else:
            in_force[cluster.pk] = PolicyInForce(None, built_in_settings(), "built-in")
    return in_force


def built_in_settings() -> dict[str, Any]:
    """What a cluster gets before anyone writes a policy: the model's defaults."""
    return {field: getattr(_BUILT_IN, field) for field in EDITABLE_FIELDS}


def organization_default_policy(organization_id: Any) -> ProvisioningPolicy | None:
    return ProvisioningPolicy.objects.filter(organization_id=organization_id, cluster=None).first()


def cluster_decision_count(organization: Organization, cluster: Cluster) -> int:
    return Decision.objects.filter(organization=organization, cluster=cluster).count()


def cluster_recent_decisions(organization: Organization, cluster: Cluster, *, limit: int) -> list[Decision]:
    return list(
        Decision.objects.filter(organization=organization, cluster=cluster)
        .select_related("node")
        .order_by("-id")[:limit]
    )


def provisioning_policy_list(organization: Organization) -> QuerySet[ProvisioningPolicy]:
    """The organization default first, then the clusters' own policies by cluster name."""
    return (
        ProvisioningPolicy.objects.filter(organization=organization)
        .select_related("cluster", "updated_by")
        .order_by(F("cluster__name").asc(nulls_first=True))
    )


def provisioning_policy_revisions(policy: ProvisioningPolicy) -> QuerySet[ProvisioningPolicyRevision]:
    return ProvisioningPolicyRevision.objects.filter(
        organization_id=policy.organization_id, policy=policy
    ).select_related("created_by")


def decision_list(
    organization: Organization,
    *,
    cluster: Any = None,
    workload: Any = None,
    kind: Iterable[str] = (),
    subject: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Decision]:
    """The organization's decisions, newest first, narrowed by whichever filters are given."""
    rows = Decision.objects.filter(organization=organization).select_related("cluster")
    if cluster is not None:
        rows = rows.filter(cluster_id=cluster)
    if workload is not None:
        rows = rows.filter(workload_id=workload)
    if kind:
        rows = rows.filter(kind__in=list(kind))
    if subject:
        rows = rows.filter(subject__icontains=subject)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    return rows.order_by("-created_at", "-id")
