"""Decision rows for provisioning: what happened, why, and the alternatives with their prices."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from clusters.models import Cluster, ManagedNode
from engines.planner import OfferingChoice
from policies.models import Decision, DecisionKind


def offering_dict(choice: OfferingChoice) -> dict[str, Any]:
    return {
        "instance_type": choice.instance_type,
        "zone": choice.zone,
        "capacity_type": choice.capacity_type.value,
        "price_per_hour": round(choice.price_per_hour, 6),
        "effective_price_per_hour": round(choice.effective_price_per_hour, 6),
        "interruption_bucket": choice.interruption_bucket,
    }


class DecisionDetails(TypedDict, total=False):
    node: ManagedNode | None
    subject: str
    chosen: dict[str, Any] | None
    runner_ups: list[dict[str, Any]] | None
    inputs: dict[str, Any] | None
    cost_per_hour: float | None
    policy_version: str


def record(cluster: Cluster, kind: DecisionKind, reason: str, **details: Unpack[DecisionDetails]) -> Decision:
    decision = decision_row(cluster, kind, reason, **details)
    decision.save(force_insert=True)
    return decision


def decision_row(
    cluster: Cluster, kind: DecisionKind, reason: str, **details: Unpack[DecisionDetails]
) -> Decision:
    """An unsaved decision (written with others in one statement, or by `record`)."""
    cost = details.get("cost_per_hour")
    return Decision(
        organization_id=cluster.organization_id,
        cluster=cluster,
        node=details.get("node"),
        kind=kind,
        subject=details.get("subject", "")[:320],
        reason=reason[:500],
        chosen=details.get("chosen") or {},
        runner_ups=details.get("runner_ups") or [],
        inputs=details.get("inputs") or {},
        cost_per_hour=None if cost is None else round(cost, 6),
        policy_version=details.get("policy_version", ""),
    )
