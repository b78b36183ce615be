"""Every write of a provisioning decision: what happened, why, and the alternatives with their prices.

System entry points for the provisioning loop (it records for a cluster, not for a person).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict, Unpack

from clusters.models import Cluster, ManagedNode
from policies.models import Decision, DecisionKind

SUBJECT_LENGTH = 320
REASON_LENGTH = 500


class DecisionDetails(TypedDict, total=False):
    node: ManagedNode | None
    subject: str
    chosen: dict[str, Any] | None
    runner_ups: list[dict[str, Any]] | None
    inputs: dict[str, Any] | None
    cost_per_hour: float | None
    policy_version: str


def decision_build(
    cluster: Cluster, *, kind: DecisionKind, reason: str, **details: Unpack[DecisionDetails]
) -> Decision:
    """An unsaved decision, for `decisions_record` (written with others in one statement)."""
    cost = details.get("cost_per_hour")
    return Decision(
        organization_id=cluster.organization_id,
        cluster=cluster,
        node=details.get("node"),
        kind=kind,
        subject=details.get("subject", "")[:SUBJECT_LENGTH],
        reason=reason[:REASON_LENGTH],
        chosen=details.get("chosen") or {},
        runner_ups=details.get("runner_ups") or [],
        inputs=details.get("inputs") or {},
        cost_per_hour=None if cost is None else round(cost, 6),
        policy_version=details.get("policy_version", ""),
    )


def decision_record(
    cluster: Cluster, *, kind: DecisionKind, reason: str, **details: Unpack[DecisionDetails]
) -> Decision:
    decision = decision_build(cluster, kind=kind, reason=reason, **details)
    decision.save(force_insert=True)
    return decision


def decisions_record(decisions: Sequence[Decision]) -> None:
    Decision.objects.bulk_create(decisions)


def decision_record_pending(cluster: Cluster, *, subject: str, reason: str, policy_version: str) -> bool:
    """Why a pod stays pending, once per pod and reason (not once per pass); True when recorded."""
    last = Decision.objects.filter(cluster=cluster, kind=DecisionKind.PENDING, subject=subject).first()
    if last is not None and last.reason == reason[:REASON_LENGTH]:
        return False
    decision_record(
        cluster, kind=DecisionKind.PENDING, reason=reason, subject=subject, policy_version=policy_version
    )
    return True
