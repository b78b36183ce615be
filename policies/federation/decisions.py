"""Decision rows of the federation loop: what the engine chose for a workload, the runner-ups with
their prices, and its reason, as the workload page and the cluster activity show them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from engines.federation import Outcome, ScheduleResult
from policies.federation.failover import FailurePlan
from policies.models import Decision, DecisionKind, Workload


def _worth_recording(workload: Workload, result: ScheduleResult, *, changed: bool) -> bool:
    """The placement changed, a generation was scheduled, or the outcome is not a clean placement
    and its reason is news (not already in the workload's status message)."""
    if changed or workload.generation > workload.scheduled_generation:
        return True
    return result.outcome is not Outcome.PLACED and result.decision.reason not in workload.status_message


def decision_row(
    workload: Workload,
    result: ScheduleResult,
    failure: FailurePlan,
    names: Mapping[str, str],
    now: datetime,
    *,
    changed: bool,
) -> Decision | None:
    """An unsaved Decision row for one engine result (clusters by name), or None when there is
    nothing worth telling."""
    if not _worth_recording(workload, result, changed=changed):
        return None
    decision = result.decision.as_dict()
    moved_off = [names.get(c, c) for c in failure.given_up if result.changes().get(c, 0) < 0]
    kind = DecisionKind.FAILOVER if moved_off else DecisionKind.PLACEMENT
    reason = result.decision.reason
    if moved_off:
        reason = f"failover from {', '.join(moved_off)}: {reason}"
    chosen = cast("list[dict[str, Any]]", decision["chosen"])
    single = chosen[0]["cluster_id"] if len(chosen) == 1 else None
    return Decision(
        organization_id=workload.organization_id,
        cluster_id=single,
        workload=workload,
        kind=kind,
        subject=str(workload)[:320],
        reason=reason[:500],
        chosen={
            "clusters": chosen,
            "replicas": {names.get(c, c): n for c, n in result.replicas.items()},
            "price_per_hour": result.decision.price_per_hour,
            "egress_per_hour": result.decision.egress_per_hour,
        },
        runner_ups=decision["runner_ups"],
        inputs=_inputs(workload, result, failure, names, decision),
        cost_per_hour=round(result.decision.price_per_hour, 6),
        policy_version=f"{workload.policy.name} v{workload.policy.version}"[:60],
        created_at=now,
    )


def _inputs(
    workload: Workload,
    result: ScheduleResult,
    failure: FailurePlan,
    names: Mapping[str, str],
    decision: Mapping[str, Any],
) -> dict[str, Any]:
    """What the decision was made from, and the engine's own account of it."""
    return {
        "generation": workload.generation,
        "desired": result.desired,
        "requests": {
            "cpu_millis": workload.cpu_millis,
            "memory_mib": workload.memory_mib,
            "gpus": workload.gpus,
        },
        "previous": {names.get(c, c): n for c, n in result.previous.items()},
        "changes": {names.get(c, c): n for c, n in result.changes().items()},
        "avoid": [names.get(c, c) for c in failure.avoid],
        "outcome": decision["outcome"],
        "strategy": decision["strategy"],
        "mode": decision["mode"],
        "score_meaning": decision["score_meaning"],
        "filtered": decision["filtered"],
        "candidate_count": decision["candidate_count"],
        "unplaced": result.unplaced,
    }
