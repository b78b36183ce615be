"""Workloads an HPA goes with (system services of the federation loop): each member's HPA scales
its own copy between the HPA's bounds, so the members' counts are the workload's, as an HPA's count
is a Deployment's in one cluster (Karmada keeps a member HPA's replicas the same way):

- a placement takes its member's count once the member runs the workload's current generation at
  the share applied (``member_count_adopted``): the policy does not send the share back there;
- a workload whose placements' counts moved takes their sum as its replica count, at a new
  generation, as an HPA's scale is one in a cluster (``autoscaled_totals_follow``): the endpoint's
  object shows it in ``spec.replicas``, so ``kubectl rollout status``, Argo CD and Flux compare the
  members' pods with what the HPAs chose, not with the count the manifest started from; the policy
  then has nothing to move (its steady assignment keeps placements that sum to the count).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import F

from policies.federation.observation import ObjectState
from policies.federation.placements import FederationRows
from policies.federation.workload_kinds import with_replicas
from policies.models import Decision, DecisionKind, Placement, Workload, WorkloadKind

SCALED_KINDS = (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET)


def autoscaled(workload: Workload) -> bool:
    """Whether the workload takes an HPA with it (an HPA goes with the workload it scales)."""
    return workload.kind in SCALED_KINDS and any(
        c.get("kind") == "HorizontalPodAutoscaler" for c in workload.companion_summary or []
    )


def member_count_adopted(placement: Placement, workload: Workload, state: ObjectState) -> None:
    """The placement takes the count its member's HPA chose (in memory; see the module)."""
    current = placement.applied_generation == workload.generation == state.generation
    settled = placement.applied_replicas == placement.replicas
    if current and settled and 0 < state.replicas != placement.replicas:
        placement.replicas = placement.applied_replicas = state.replicas


def autoscaled_totals_follow(rows: FederationRows, now: datetime) -> int:
    """Each live autoscaled workload whose placements' counts no longer sum to its replica count
    takes their sum, at a new generation, written at once unless the API changed the workload
    meanwhile (the next pass looks again), with a decision saying so (written with the pass's). How
    many moved."""
    moved = 0
    for key, workload in rows.workloads.items():
        if workload.deleted_at is not None or not autoscaled(workload):
            continue
        total = sum(p.replicas for p in rows.placements[key])
        if total == 0 or total == workload.desired_replicas:
            continue
        manifest = with_replicas(workload.manifest, total)
        written = Workload.objects.filter(
            pk=workload.pk, generation=workload.generation, deleted_at__isnull=True
        ).update(manifest=manifest, desired_replicas=total, generation=F("generation") + 1)
        if written:
            rows.decisions.append(_decision(workload, rows.placements[key], total, now))
            workload.manifest, workload.desired_replicas = manifest, total
            workload.generation += 1
            moved += 1
    return moved


def _decision(workload: Workload, placements: list[Placement], total: int, now: datetime) -> Decision:
    """Why the workload's replica count moved: the workload page shows it among its decisions."""
    counts = {
        p.cluster.name: p.replicas for p in sorted(placements, key=lambda p: p.cluster.name) if p.replicas
    }
    each = ", ".join(f"{name} {count}" for name, count in counts.items())
    return Decision(
        organization_id=workload.organization_id,
        workload=workload,
        kind=DecisionKind.AUTOSCALE,
        subject=str(workload)[:320],
        reason=(
            f"the members' HPAs scaled {workload.name} from {workload.desired_replicas} to {total} replicas "
            f"({each}): its replica count follows them, as an HPA's count is a Deployment's in one cluster"
        )[:500],
        chosen={"clusters": [{"cluster_name": name, "replicas": count} for name, count in counts.items()]},
        inputs={
            "generation": workload.generation + 1,
            "previous": workload.desired_replicas,
            "desired": total,
        },
        policy_version=f"{workload.policy.name} v{workload.policy.version}"[:60],
        created_at=now,
    )
