"""A replay run as the page and the API show it: what happened and what the draft would have done,
side by side, the LP bound, and the sentences that say what the figures cannot know."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billing.models import ReplayRun, ReplayState
from billing.services.replay import BOOT_SECONDS, CONSOLIDATION_SECONDS


@dataclass(frozen=True)
class Row:
    label: str
    unit: str  # "usd", "pod_hours", "nodes"
    actual: float
    replayed: float

    @property
    def difference(self) -> float:
        return self.replayed - self.actual


@dataclass(frozen=True)
class ReplayView:
    state: str
    pods: int = 0
    rows: tuple[Row, ...] = ()
    lower_bound: float | None = None  # effective USD
    replayed_effective: float | None = None
    unplaced_pods: int = 0
    unplaced_reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bound_ratio(self) -> float | None:
        """The draft's effective spend over the least any schedule of these pods could cost; None
        below a cent, where the shown amounts ($0.00 each) could not carry the percentage."""
        if self.lower_bound is None or self.replayed_effective is None or self.lower_bound < 0.005:
            return None
        return self.replayed_effective / self.lower_bound

    @property
    def above_bound_pct(self) -> float | None:
        ratio = self.bound_ratio
        return None if ratio is None else (ratio - 1) * 100


def replay_view(run: ReplayRun) -> ReplayView:
    if run.state != ReplayState.DONE:
        return ReplayView(state=run.state)
    result: dict[str, Any] = run.result
    actual, replayed = result["actual"], result["replayed"]
    rows = (
        Row("Spend", "usd", actual["spend"], replayed["spend"]),
        Row("Pending pod-hours", "pod_hours", actual["pending_pod_hours"], replayed["pending_pod_hours"]),
        Row("Average nodes", "nodes", actual["average_nodes"], replayed["average_nodes"]),
        Row("Peak nodes", "nodes", actual["peak_nodes"], replayed["peak_nodes"]),
    )
    notes = [
        f"{result['pods']} pod(s) rebuilt from the usage ledger's per-minute counts of each workload: "
        "the ledger keeps requests, not selectors, affinity or tolerations, so replayed pods ask only "
        "for CPU, memory and GPUs.",
        f"Replayed nodes take {BOOT_SECONDS:.0f} s to boot, go after the draft's scale-down delay, and "
        f"long-running pods are consolidated every {CONSOLIDATION_SECONDS / 60:.0f} minutes when the "
        "draft's minimum saving is met.",
        "What happened: the ledger's node spend; pending pod-hours count the pods metering found "
        "waiting for a node at each read.",
    ]
    unplaced = int(replayed.get("unplaced_pods") or 0)
    if unplaced:
        notes.append(
            f"The draft leaves {unplaced} pod(s) it cannot place pending for their whole recorded life: "
            "their wait is in its pending pod-hours, and they cost it nothing — a lower spend that "
            "comes with them is not a saving."
        )
    bound = result.get("lower_bound") or {}
    return ReplayView(
        state=run.state,
        pods=int(result["pods"]),
        rows=rows,
        lower_bound=bound.get("effective_spend"),
        replayed_effective=replayed.get("effective_spend"),
        unplaced_pods=unplaced,
        unplaced_reasons=tuple(replayed.get("unplaced_reasons") or ()),
        notes=tuple(notes),
    )
