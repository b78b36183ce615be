"""How good a provisioning plan is: its cost against the planner's proven lower bound for the same
pods, stored by the loop with each launch decision (``inputs["plan"]``) and read back here for the
decision page, the cluster page and the API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from policies.models import Decision, DecisionKind


@dataclass(frozen=True)
class PlanCertificate:
    """How close the plan a decision belongs to is to the best possible for the same pods."""

    cost_per_hour: float
    lower_bound_per_hour: float
    pods: int
    launches: int

    @property
    def gap_percent(self) -> float | None:
        """Cost over the bound, in percent; None when the bound proves nothing (zero)."""
        if self.lower_bound_per_hour <= 0:
            return None
        return max(0.0, (self.cost_per_hour / self.lower_bound_per_hour - 1) * 100)

    @property
    def summary(self) -> str:
        gap = self.gap_percent
        if gap is None:
            return "No lower bound was proven for this plan (its pods needed no new capacity by the bound's count)."
        if gap < 0.05:
            return "Optimal: the plan costs what the lower bound proves no plan for these pods can beat."
        return f"Within {gap:.1f} % of the best possible for these pods."


def decision_plan_certificate(decision: Decision) -> PlanCertificate | None:
    """The plan figures the loop stored with a launch decision, if it stored them."""
    plan = decision.inputs.get("plan") if isinstance(decision.inputs, dict) else None
    if not isinstance(plan, dict):
        return None
    try:
        return PlanCertificate(
            cost_per_hour=float(plan["cost_per_hour"]),
            lower_bound_per_hour=float(plan["lower_bound_per_hour"]),
            pods=int(plan["pods"]),
            launches=int(plan["launches"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def latest_plan_certificate(decisions: Iterable[Decision]) -> PlanCertificate | None:
    """The certificate of the newest launch among `decisions` (newest first) that has one."""
    for decision in decisions:
        if decision.kind == DecisionKind.LAUNCH:
            certificate = decision_plan_certificate(decision)
            if certificate is not None:
                return certificate
    return None
