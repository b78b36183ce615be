"""PodDisruptionBudget arithmetic, shared by the eviction subresource and the PDB controller.

As the disruption controller computes it:
1. expected pods = pods the budget selects (the simulator counts them instead of reading the
   owners' scale, which gives the same number once workloads are at their desired size);
2. healthy = selected pods that are Running with condition Ready=True and not terminating;
3. desired healthy = `minAvailable` (a percentage rounds up), or expected − `maxUnavailable`
   (a percentage of expected, rounded up);
4. disruptions allowed = max(0, healthy − desired healthy).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.clock import format_timestamp
from simulator.selectors import selector_from_object


@dataclass(frozen=True)
class BudgetStatus:
    expected_pods: int
    current_healthy: int
    desired_healthy: int
    disruptions_allowed: int

    def as_status(
        self, observed_generation: int, now: float, previous: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The status the disruption controller writes. Its DisruptionAllowed condition is a
        metav1.Condition (set with meta.SetStatusCondition), so it has a lastTransitionTime, which
        moves only when the condition's status changes."""
        allowed = self.disruptions_allowed > 0
        status = "True" if allowed else "False"
        old = next(
            (c for c in (previous or {}).get("conditions") or () if c.get("type") == "DisruptionAllowed"),
            None,
        )
        transition = (
            old["lastTransitionTime"]
            if old is not None and old.get("status") == status and old.get("lastTransitionTime")
            else format_timestamp(now)
        )
        return {
            "expectedPods": self.expected_pods,
            "currentHealthy": self.current_healthy,
            "desiredHealthy": self.desired_healthy,
            "disruptionsAllowed": self.disruptions_allowed,
            "observedGeneration": observed_generation,
            "conditions": [
                {
                    "type": "DisruptionAllowed",
                    "status": status,
                    "reason": "SufficientPods" if allowed else "InsufficientPods",
                    "message": "",
                    "observedGeneration": observed_generation,
                    "lastTransitionTime": transition,
                }
            ],
        }


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())


def budget_selects(budget: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """policy/v1: a nil selector selects nothing, an empty one every pod of the namespace."""
    if pod["metadata"].get("namespace") != budget["metadata"].get("namespace"):
        return False
    selector = (budget.get("spec") or {}).get("selector")
    if selector is None:
        return False
    return selector_from_object(selector).matches(pod["metadata"].get("labels"))


def _scaled(value: int | str, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def budget_status(budget: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> BudgetStatus:
    selected = [p for p in pods if budget_selects(budget, p) and not p["metadata"].get("deletionTimestamp")]
    expected = len(selected)
    healthy = sum(1 for p in selected if is_pod_ready(p))
    spec = budget.get("spec") or {}
    if spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    elif spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    else:
        desired = expected  # neither set: no disruption allowed beyond unhealthy pods
    return BudgetStatus(expected, healthy, desired, max(0, healthy - desired))


def can_ignore_budget(pod: Mapping[str, Any]) -> bool:
    """Pods not running (or already terminating) may always be evicted, as in kube-apiserver."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Pending", "Succeeded", "Failed") or bool(pod["metadata"].get("deletionTimestamp"))
