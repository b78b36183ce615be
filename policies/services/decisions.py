"""Every write of a provisioning decision: what happened, why, and the alternatives with their prices.

System entry points for the provisioning loop (it records for a cluster, not for a person).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clusters.models import Cluster, ManagedNode
from policies.models import Decision, DecisionKind

SUBJECT_LENGTH = 320
REASON_LENGTH = 500


def decision_build(
    cluster: Cluster,
    *,
    kind: DecisionKind,
    reason: str,
    node: ManagedNode | None = None,
    subject: str = "",
    chosen: dict[str, Any] | None = None,
    runner_ups: list[dict[str, Any]] | None = None,
    inputs: dict[str, Any] | None = None,
    cost_per_hour: float | None = None,
    policy_version: str = "",
) -> Decision:
    """An unsaved decision, for `decisions_record`."""
    return Decision(
        organization_id=cluster.organization_id,
        cluster=cluster,
        node=node,
        kind=kind,
        subject=subject[:SUBJECT_LENGTH],
        reason=reason[:REASON_LENGTH],
        chosen=chosen or {},
        runner_ups=runner_ups or [],
        inputs=inputs or {},
        cost_per_hour=None if cost_per_hour is None else round(cost_per_hour, 6),
        policy_version=policy_version,
    )


def decisions_record(decisions: Sequence[Decision]) -> None:
    """Write decisions built by `decision_build`, in one statement."""
    Decision.objects.bulk_create(decisions)


def decision_record_pending(cluster: Cluster, *, subject: str, reason: str, policy_version: str) -> bool:
    """Why a pod stays pending, once per pod and reason (not once per pass); True when recorded."""
    last = Decision.objects.filter(cluster=cluster, kind=DecisionKind.PENDING, subject=subject).first()
    if last is not None and last.reason == reason[:REASON_LENGTH]:
        return False
    decisions_record(
        [
            decision_build(
                cluster,
                kind=DecisionKind.PENDING,
                reason=reason,
                subject=subject,
                policy_version=policy_version,
            )
        ]
    )
    return True
