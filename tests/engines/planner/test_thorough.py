"""`thorough=False` keeps a valid bound and the same placements' guarantees, only skipping the
bound-tightening branch-and-bound on small plans."""

from __future__ import annotations

from engines.planner import PlannerPolicy, PodRequest, Resources, Snapshot, plan
from lab.planner.testing import karpenter_catalog


def test_a_quick_plan_is_never_cheaper_than_the_thorough_bound_and_places_every_pod() -> None:
    catalog = karpenter_catalog()
    pods = tuple(
        PodRequest(
            uid=f"u{i}", name=f"p{i}", requests=Resources(250 + 250 * (i % 4), 256 * (1 + i % 3), 0, 0, 1)
        )
        for i in range(30)
    )
    thorough = plan(Snapshot(pods=pods), PlannerPolicy(), catalog)
    quick = plan(Snapshot(pods=pods), PlannerPolicy(), catalog, thorough=False)
    placed = sorted(uid for launch in quick.launches for uid in launch.pod_uids)
    assert placed == sorted(p.uid for p in pods) and not quick.unschedulable
    assert quick.lp_lower_bound <= thorough.lp_lower_bound + 1e-9  # still a lower bound, maybe a looser one
    assert quick.cost_per_hour >= thorough.lp_lower_bound - 1e-9
