"""The decide step of a pass: every active workload through the engine, against one fleet.

1. One ``Fleet`` of every member (free capacity net of what our placements hold, prices, labels,
   reachability), built from the rows and this pass's observation (``policies.federation.inputs``).
2. For each workload (oldest first): its engine inputs (spec, policy, current placement, failure
   plan), then ``schedule`` in steady mode, charging the fleet with the changes so the next
   decision sees the capacity this one took.
3. Each result recorded in the rows (``placement_result_record``): placements to create, resize or
   remove, and a Decision row when something changed or the outcome is worth telling.

At rest the engine's answers are the ones the last pass got: ``schedule`` is a pure function of the
fleet and the workload's inputs, and neither changed. A ``DecisionMemo`` (one per organization,
kept by the runner) holds the last fleet's snapshots, the fleet built from them, and each answer
that changed nothing; a pass that builds equal snapshots reuses the fleet, and for a workload whose
inputs are equal reuses the answer instead of running the engine - and records it as before. The
inputs are built each pass for its moment (the clusters to avoid, given up on past a grace period or
remembered until a time, included), and compared but for how long the placement has been unchanged:
answers that depend on it (a burst tier's return still held back, ``engines.federation.timeless``)
are neither kept nor reused.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from engines.federation import ClusterSnapshot, Fleet, PolicyError, ScheduleResult, schedule, timeless
from policies.federation.inputs import (
    PolicyCache,
    ScheduleInputs,
    fleet_inputs,
    needs_scheduling,
    schedule_inputs,
    steady,
)
from policies.federation.placements import (
    FederationRows,
    placement_result_record,
    placements_withdraw,
    workload_policy_rejected,
)
from policies.federation.snapshots import Inventory
from policies.models import Placement, Workload


@dataclass(frozen=True)
class Decided:
    inputs: ScheduleInputs
    result: ScheduleResult


# Engine policies kept per memo (by policy id and version): a pass builds one per policy version.
_POLICIES_KEPT = 64


@dataclass
class DecisionMemo:
    """The engine's answers of an organization's last passes that time alone cannot change (see
    the module's docstring), for the fleet built from ``snapshots``."""

    snapshots: tuple[ClusterSnapshot, ...] = ()
    fleet: Fleet | None = None
    answers: dict[str, Decided] = field(default_factory=dict)  # by workload id
    policies: PolicyCache = field(default_factory=dict)

    def fleet_for(self, snapshots: tuple[ClusterSnapshot, ...]) -> Fleet:
        """The fleet of ``snapshots``: the last one when they are equal, else a new one (and the
        answers for the old one are forgotten)."""
        if self.fleet is None or snapshots != self.snapshots:
            self.snapshots, self.fleet, self.answers = snapshots, Fleet(snapshots), {}
        if len(self.policies) > _POLICIES_KEPT:
            self.policies.clear()
        return self.fleet

    def answer(self, key: str, inputs: ScheduleInputs) -> ScheduleResult | None:
        kept = self.answers.get(key)
        if kept is None or not _same_but_for_time(kept.inputs, inputs):
            return None
        return kept.result


def _same_but_for_time(kept: ScheduleInputs, inputs: ScheduleInputs) -> bool:
    """Equal inputs but for how long the placement has been unchanged, which then cannot matter:
    both are ``timeless`` (the failure plan, computed each pass for its moment, is compared)."""
    return (
        kept.spec == inputs.spec
        and kept.policy == inputs.policy
        and kept.current.replicas == inputs.current.replicas
        and kept.failure == inputs.failure
        and timeless(inputs.spec, inputs.policy, inputs.current)
    )


def decide(
    workload: Workload,
    placements: Sequence[Placement],
    fleet: Fleet,
    policies: PolicyCache,
    now: datetime,
    memo: DecisionMemo | None = None,
) -> Decided:
    """One workload through the engine (steady mode), or its answer kept in ``memo`` when
    ``fleet`` is the memo's (no decision of this pass took room before it); the fleet is not
    charged here."""
    inputs = schedule_inputs(workload, placements, now, policies)
    kept = memo.answer(str(workload.pk), inputs) if memo is not None and fleet is memo.fleet else None
    if kept is not None:
        return Decided(inputs, kept)
    result = schedule(
        inputs.spec,
        inputs.policy,
        fleet,
        inputs.current,
        avoid=inputs.failure.avoid,
        keep_current=inputs.failure.keep_current,
    )
    return Decided(inputs, result)


def decide_all(
    rows: FederationRows,
    inventories: Mapping[str, Inventory | None],
    now: datetime,
    *,
    steady_too: bool = True,
    applying: Collection[str] = (),
    memo: DecisionMemo | None = None,
) -> None:
    """Decide every workload of the pass and record the results in ``rows``; without
    ``steady_too``, not those placed and starting or running everywhere (``inputs.steady``), nor
    those ``applying`` (ids) at the generation they were decided at: a pass that follows another
    at once (``runner``) decides what arrived or changed, not what the pass before decided and is
    still applying (its outcomes are recorded before this pass acts; a failed one is decided by the
    next pass). The first pass of a task outside a burst decides everything, so a change of the
    fleet still moves them a few seconds later.
    ``memo``: the organization's answers of its last passes, reused where nothing changed and kept
    for the next pass (see the module's docstring)."""
    snapshots = fleet_inputs(list(rows.clusters.values()), inventories, rows.workloads, rows.all_placements())
    memo = memo if memo is not None else DecisionMemo()
    fleet = memo.fleet_for(snapshots)
    for key, workload in rows.workloads.items():
        placements = rows.placements[key]
        if workload.deleted_at is not None:
            placements_withdraw(workload, placements)
            continue
        if not needs_scheduling(workload, placements):
            continue
        if not steady_too and (_still_applying(workload, applying) or steady(workload, placements)):
            continue
        try:
            decided = decide(workload, placements, fleet, memo.policies, now, memo)
        except (PolicyError, ValueError, KeyError) as error:
            workload_policy_rejected(rows, workload, error)
            continue
        changes = {cluster: count for cluster, count in decided.result.changes().items() if count}
        changed = placement_result_record(rows, workload, decided.result, decided.inputs.failure, now)
        # Answers are kept for the memo's fleet only: once a decision of this pass took room, the
        # ones after it saw another fleet.
        inputs = decided.inputs
        if (
            fleet is memo.fleet
            and not changes
            and not changed
            and timeless(inputs.spec, inputs.policy, inputs.current)
        ):
            memo.answers[key] = decided
        else:
            memo.answers.pop(key, None)
        if changes:
            fleet = fleet.charge(changes, decided.inputs.spec.requests)


def _still_applying(workload: Workload, applying: Collection[str]) -> bool:
    """Decided at its generation by the pass before, whose applies for it are still running."""
    return str(workload.pk) in applying and workload.scheduled_generation == workload.generation
