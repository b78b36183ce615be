"""Decision rows for provisioning: what happened, why, and the alternatives with their prices."""

from __future__ import annotations

from typing import Any

from clusters.models import Cluster, ManagedNode
from policies.models import Decision, DecisionKind
from workers.planner import OfferingChoice


def offering_dict(choice: OfferingChoice) -> dict[str, Any]:
    return {
        "instance_type": choice.instance_type,
        "zone": choice.zone,
        "capacity_type": choice.capacity_type.value,
        "price_per_hour": round(choice.price_per_hour, 6),
        "effective_price_per_hour": round(choice.effective_price_per_hour, 6),
        "interruption_bucket": choice.interruption_bucket,
    }


def record(
    cluster: Cluster,
    kind: DecisionKind,
    reason: str,
    *,
    node: ManagedNode | None = None,
    subject: str = "",
    chosen: dict[str, Any] | None = None,
    runner_ups: list[dict[str, Any]] | None = None,
    inputs: dict[str, Any] | None = None,
    cost_per_hour: float | None = None,
    policy_version: str = "",
) -> Decision:
    return Decision.objects.create(
        organization_id=cluster.organization_id,
        cluster=cluster,
        node=node,
        kind=kind,
        subject=subject[:320],
        reason=reason[:500],
        chosen=chosen or {},
        runner_ups=runner_ups or [],
        inputs=inputs or {},
        cost_per_hour=None if cost_per_hour is None else round(cost_per_hour, 6),
        policy_version=policy_version,
    )
