"""Federation policy preview: where the workloads under a policy would run with the draft, next to
where the saved policy keeps them, and what each costs per hour — computed by the engine on each
member's kept observation (a web request never calls a member), nothing stored or applied."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.utils import timezone

from clusters.models import Cluster, ClusterObservation
from engines.federation import PlacementPolicy, ScheduleResult, schedule
from policies.federation.inputs import (
    build_fleet,
    current_placement,
    for_kind,
    placement_policy,
    workload_spec,
)
from policies.federation.snapshots import kept_inventory
from policies.models import FederationPolicy, Placement, PlacementState, Workload

MAX_WORKLOADS = 10


@dataclass(frozen=True)
class PlacementSummary:
    replicas: dict[str, int]  # cluster name → replicas
    price_per_hour: float
    unplaced: int
    reason: str


@dataclass(frozen=True)
class WorkloadPreview:
    workload: Workload
    saved: PlacementSummary
    draft: PlacementSummary

    @property
    def changes(self) -> bool:
        return self.saved.replicas != self.draft.replicas


def _summary(result: ScheduleResult, names: dict[str, str]) -> PlacementSummary:
    decision = result.decision
    price = sum(score.price_per_hour or 0.0 for score in decision.chosen)
    return PlacementSummary(
        replicas={
            names.get(cluster_id, cluster_id): count for cluster_id, count in sorted(result.replicas.items())
        },
        price_per_hour=price,
        unplaced=result.unplaced,
        reason=decision.reason,
    )


def preview(
    organization_id: UUID, policy: FederationPolicy | None, draft: PlacementPolicy
) -> list[WorkloadPreview]:
    """The workloads placed under `policy` (at most MAX_WORKLOADS): saved placement vs the draft's."""
    if policy is None:
        return []
    workloads = list(
        Workload.objects.filter(organization_id=organization_id, policy=policy, deleted_at=None)
        .select_related("policy")
        .order_by("-created_at")[:MAX_WORKLOADS]
    )
    if not workloads:
        return []
    clusters = list(
        Cluster.objects.filter(organization_id=organization_id).select_related(
            "cloud_account", "organization"
        )
    )
    names = {str(c.pk): c.name for c in clusters}
    placements = list(
        Placement.objects.filter(organization_id=organization_id).exclude(state=PlacementState.REMOVING)
    )
    ours = {str(w.pk) for w in workloads}
    kept = {o.cluster_id: o for o in ClusterObservation.objects.filter(organization_id=organization_id)}
    inventories = {str(c.pk): kept_inventory(kept.get(c.pk), ours) for c in clusters}
    fleet = build_fleet(clusters, inventories, {str(w.pk): w for w in workloads}, placements)
    now = timezone.now()
    saved_policy = placement_policy(policy)
    previews = []
    for workload in workloads:
        current = current_placement(workload, [p for p in placements if p.workload_id == workload.pk], now)
        spec, saved_for_kind = for_kind(workload, workload_spec(workload), saved_policy)
        draft_spec, draft_for_kind = for_kind(workload, workload_spec(workload), draft)
        saved = _summary(schedule(spec, saved_for_kind, fleet, current), names)
        drafted = _summary(schedule(draft_spec, draft_for_kind, fleet, current), names)
        previews.append(WorkloadPreview(workload, saved, drafted))
    return previews
