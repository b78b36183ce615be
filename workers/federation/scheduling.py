"""The decide step of a pass: every active workload through the engine, against one fleet.

1. One ``Fleet`` of every member (free capacity net of what our placements hold, prices, labels,
   reachability), built from the rows and this pass's observation (``policies.federation.inputs``).
2. For each workload (oldest first): its engine inputs (spec, policy, current placement, failure
   plan), then ``schedule`` in steady mode, charging the fleet with the changes so the next
   decision sees the capacity this one took.
3. Each result recorded in the rows (``placement_result_record``): placements to create, resize or
   remove, and a Decision row when something changed or the outcome is worth telling.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from engines.federation import Fleet, PolicyError, ScheduleResult, schedule
from policies.federation.inputs import (
    PolicyCache,
    ScheduleInputs,
    build_fleet,
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


def decide(
    workload: Workload, placements: Sequence[Placement], fleet: Fleet, policies: PolicyCache, now: datetime
) -> Decided:
    """One workload through the engine (steady mode); the fleet is not charged here."""
    inputs = schedule_inputs(workload, placements, now, policies)
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
) -> None:
    """Decide every workload of the pass and record the results in ``rows``; without
    ``steady_too``, not those placed and starting or running everywhere (``inputs.steady``), nor
    those ``applying`` (ids) at the generation they were decided at: a pass that follows another
    at once (``runner``) decides what arrived or changed, not what the pass before decided and is
    still applying (its outcomes are recorded before this pass acts; a failed one is decided by the
    next pass). The first pass of a task outside a burst decides everything, so a change of the
    fleet still moves them a few seconds later."""
    fleet = build_fleet(list(rows.clusters.values()), inventories, rows.workloads, rows.all_placements())
    policies: PolicyCache = {}
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
            decided = decide(workload, placements, fleet, policies, now)
        except (PolicyError, ValueError, KeyError) as error:
            workload_policy_rejected(rows, workload, error)
            continue
        fleet = fleet.charge(decided.result.changes(), decided.inputs.spec.requests)
        placement_result_record(rows, workload, decided.result, decided.inputs.failure, now)


def _still_applying(workload: Workload, applying: Collection[str]) -> bool:
    """Decided at its generation by the pass before, whose applies for it are still running."""
    return str(workload.pk) in applying and workload.scheduled_generation == workload.generation
