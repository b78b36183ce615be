"""Hand-computed metering: per-second billing, the 60 s minimum, boot time, scale-down delay.

A `m.small` node costs 0.36 $/h, i.e. 0.0001 $ per second, so every expected cost below is
the billed seconds divided by 10,000.
"""

from __future__ import annotations

import pytest

from engines.planner import CapacityType, PlannerPolicy
from lab.replay import ReplayPod, Timing, replay
from tests.lab.replay.replay_builders import ON_DEMAND_ONLY, SMALL, catalog, request

PER_SECOND = 0.0001


def pod(uid: str, arrival: float, departure: float, cpu_millis: int = 1000) -> ReplayPod:
    return ReplayPod(request(uid, cpu_millis), arrival, departure)


def test_a_node_is_billed_per_second_from_launch_to_release():
    result = replay([pod("a", 0, 1000)], catalog(), ON_DEMAND_ONLY, Timing())
    (node,) = result.nodes
    assert node.instance_type == SMALL.name
    assert (node.launched_at, node.released_at, node.billed_seconds) == (0, 1000, 1000)
    assert result.cost == pytest.approx(1000 * PER_SECOND)


def test_a_short_pod_pays_the_sixty_second_minimum():
    result = replay([pod("a", 0, 10)], catalog(), ON_DEMAND_ONLY, Timing())
    assert result.nodes[0].billed_seconds == 60
    assert result.cost == pytest.approx(60 * PER_SECOND)


def test_boot_time_delays_the_pod_and_is_billed():
    result = replay([pod("a", 0, 600)], catalog(), ON_DEMAND_ONLY, Timing(boot_seconds=90))
    (node,) = result.nodes
    # Launched at 0, ready at 90; the pod runs its full 600 s from then on.
    assert (node.ready_at, node.released_at) == (90, 690)
    assert result.start_delay_seconds == 90
    assert result.cost == pytest.approx(690 * PER_SECOND)


def test_the_scale_down_delay_keeps_an_empty_node_billed():
    result = replay([pod("a", 0, 600)], catalog(), ON_DEMAND_ONLY, Timing(scale_down_seconds=120))
    assert result.nodes[0].released_at == 720
    assert result.cost == pytest.approx(720 * PER_SECOND)


def test_a_node_kept_by_the_scale_down_delay_is_reused_by_a_later_pod():
    pods = [pod("a", 0, 600, cpu_millis=2000), pod("b", 650, 1250, cpu_millis=2000)]
    kept = replay(pods, catalog(), ON_DEMAND_ONLY, Timing(scale_down_seconds=120))
    assert len(kept.nodes) == 1
    assert kept.nodes[0].pods_served == 2
    assert kept.cost == pytest.approx((1250 + 120) * PER_SECOND)
    # A shorter delay lets the node go before b arrives: two nodes, 630 s each.
    released = replay(pods, catalog(), ON_DEMAND_ONLY, Timing(scale_down_seconds=30))
    assert len(released.nodes) == 2
    assert released.cost == pytest.approx(2 * 630 * PER_SECOND)


def test_two_pods_arriving_together_share_one_node():
    pods = [pod("a", 0, 3600), pod("b", 0, 3600)]
    result = replay(pods, catalog(), ON_DEMAND_ONLY, Timing())
    assert len(result.nodes) == 1
    assert result.cost == pytest.approx(0.36)


def test_the_cost_series_splits_a_node_across_hour_buckets():
    result = replay([pod("a", 0, 5400)], catalog(), ON_DEMAND_ONLY, Timing())
    assert result.series.bucket_seconds == 3600
    assert result.series.costs == pytest.approx((0.36, 0.18))
    assert sum(result.series.costs) == pytest.approx(result.cost)


def test_the_series_charges_the_minimum_right_after_the_launch():
    result = replay([pod("a", 3590, 3600)], catalog(), ON_DEMAND_ONLY, Timing(series_bucket_seconds=60))
    # Billed 60 s from 3590: the first bucket (origin 3590) holds it all.
    assert result.series.origin == 3590
    assert result.series.costs == pytest.approx((60 * PER_SECOND,))


def test_node_seconds_and_cost_are_reported_by_capacity_type():
    spot_catalog = catalog(spot_discount=0.5)
    result = replay([pod("a", 0, 3600)], spot_catalog, PlannerPolicy(), Timing())
    usage = result.by_capacity_type[CapacityType.SPOT]
    assert CapacityType.ON_DEMAND not in result.by_capacity_type
    assert usage.node_seconds == 3600
    assert usage.cost == pytest.approx(0.18)


def test_timing_refuses_negative_delays():
    with pytest.raises(ValueError):
        Timing(boot_seconds=-1)
    with pytest.raises(ValueError):
        Timing(scale_down_seconds=-5)


def test_a_pod_cannot_depart_before_it_arrives():
    with pytest.raises(ValueError):
        pod("a", 100, 50)
