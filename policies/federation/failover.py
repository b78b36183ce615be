"""When replicas stay put and when they move: the policy's failure behaviour and grace period.

- A cluster unreachable for longer than the grace period, or a placement failing for at least
  ``FAILING_PASSES`` passes and longer than the grace period, is given up on.
- ``reschedule``: clusters given up on are passed to the engine as ``avoid``, so their replicas
  are placed again elsewhere (Karmada's "dropped" replicas). A cluster where the workload kept
  failing is remembered in ``Workload.avoid_clusters`` for ``AVOID_SECONDS``, so the replicas do
  not come straight back (burst return, scale-up). Within the grace period ``keep_current``
  holds replicas on an unreachable cluster where they are.
- ``sticky``: nothing moves (``keep_current``); the status says why replicas are missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.dateparse import parse_datetime

from policies.models import FailureBehaviour, Placement, PlacementState, Workload

FAILING_PASSES = 3
AVOID_SECONDS = 600


@dataclass(frozen=True)
class FailurePlan:
    avoid: tuple[str, ...]
    keep_current: bool
    remembered: dict[str, str]  # the workload's avoid_clusters after this pass
    given_up: tuple[str, ...]  # cluster ids whose replicas move in this decision


def _past_grace(since: datetime | None, grace: timedelta, now: datetime) -> bool:
    return since is not None and now - since >= grace


def failure_plan(workload: Workload, placements: Sequence[Placement], now: datetime) -> FailurePlan:
    policy = workload.policy
    grace = timedelta(seconds=policy.grace_period_seconds)
    remembered = {
        cluster_id: until
        for cluster_id, until in (workload.avoid_clusters or {}).items()
        if (moment := parse_datetime(until)) is not None and moment > now
    }
    if policy.on_failure == FailureBehaviour.STICKY:
        return FailurePlan((), keep_current=True, remembered=remembered, given_up=())
    given_up: list[str] = []
    for placement in placements:
        if not placement.replicas:
            continue
        cluster_id = str(placement.cluster_id)
        unreachable = _past_grace(placement.unreachable_since, grace, now)
        failing = (
            placement.state == PlacementState.FAILING
            and placement.failure_count >= FAILING_PASSES
            and _past_grace(placement.failing_since, grace, now)
        )
        if failing:
            remembered[cluster_id] = (
                now + timedelta(seconds=max(AVOID_SECONDS, 5 * grace.total_seconds()))
            ).isoformat()
        if unreachable or failing:
            given_up.append(cluster_id)
    avoid = tuple(sorted(set(remembered) | set(given_up)))
    return FailurePlan(avoid, keep_current=True, remembered=remembered, given_up=tuple(given_up))
