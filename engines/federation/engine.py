"""``schedule``: filter → score → select → divide for one workload. Pure: no Django, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from engines.federation.allocation import Allocation
from engines.federation.candidates import Candidates, gather
from engines.federation.decision import ScheduleResult
from engines.federation.egress import DEFAULT_EGRESS_TABLE, EgressTable
from engines.federation.fleet import Fleet
from engines.federation.model import ClusterSnapshot, CurrentPlacement, WorkloadKind, WorkloadSpec
from engines.federation.policy import AssignmentMode, PlacementPolicy, Strategy
from engines.federation.record import build_result
from engines.federation.strategies.burst import fill_then_burst, may_return
from engines.federation.strategies.ordered import cheapest, duplicate, most_capacity, pinned
from engines.federation.strategies.spread import spread

_STRATEGIES: dict[Strategy, Callable[[Candidates, AssignmentMode], Allocation]] = {
    Strategy.CHEAPEST: cheapest,
    Strategy.MOST_CAPACITY: most_capacity,
    Strategy.SPREAD: spread,
    Strategy.DUPLICATE: duplicate,
    Strategy.FILL_THEN_BURST: fill_then_burst,
    Strategy.PINNED: pinned,
}


def schedule(
    workload: WorkloadSpec,
    policy: PlacementPolicy,
    clusters: Fleet | Sequence[ClusterSnapshot],
    current: CurrentPlacement | Mapping[str, int] | None = None,
    *,
    avoid: Collection[str] = (),
    keep_current: bool = False,
    mode: AssignmentMode = AssignmentMode.STEADY,
    egress_table: EgressTable | None = None,
    runner_ups: int = 3,
) -> ScheduleResult:
    """Decide which member clusters run ``workload`` and how many replicas each gets.

    1. Filter: clusters matching ``policy.selector`` that are healthy, reachable, support the
       workload kind and are not in ``avoid`` (ids or names the loop gave up on: unreachable past
       the grace period, or a placement failing repeatedly). Replicas on clusters that dropped out
       are placed again, unless ``keep_current`` (sticky failure mode, or within the grace period)
       keeps those on unhealthy/unreachable clusters where they are.
    2. Score: price of the replicas there (nodeless: cheapest packing of new nodes; observe: the
       requests at the nodes' rates), weighted egress, free room, stickiness.
    3. Select and divide per strategy (see ``engines.federation.strategies``), steady by default:
       only missing replicas are placed, scale-down only removes.
    4. Record: chosen clusters, runner-ups, filtered counts and a one-line reason.

    ``clusters`` may be a prepared ``Fleet`` (fast: build one per loop pass and reuse it) or the
    snapshots themselves. Never raises for "does not fit": the result says so and why.
    """
    if isinstance(clusters, Fleet):
        fleet = clusters
        if egress_table is not None and egress_table != fleet.egress_table:
            raise ValueError("egress_table differs from the fleet's: build the Fleet with it")
    else:
        fleet = Fleet(clusters, egress_table or DEFAULT_EGRESS_TABLE)
    placement = current if isinstance(current, CurrentPlacement) else CurrentPlacement(current or {})
    candidates = gather(fleet, workload, policy, placement, avoid=avoid, keep_current=keep_current)
    allocation = _STRATEGIES[policy.strategy](candidates, mode)
    return build_result(candidates, allocation, mode, placement, runner_ups)


def timeless(workload: WorkloadSpec, policy: PlacementPolicy, current: CurrentPlacement) -> bool:
    """Whether ``schedule`` answers the same for these inputs at any later time, the fleet and the
    rest unchanged: ``current.seconds_since_change`` matters to one rule only, the return of a
    fill-then-burst Deployment, which comes due by time alone while it is held back."""
    burst = policy.burst
    if policy.strategy is not Strategy.FILL_THEN_BURST or burst is None:
        return True
    if workload.kind is not WorkloadKind.DEPLOYMENT:
        return True  # never returns
    return may_return(workload.kind, current.seconds_since_change, burst)
