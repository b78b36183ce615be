"""Spot effective prices, the interruption cap, discounts, fallback lists, decisions and node ids."""

from __future__ import annotations

import pytest

from engines.planner import CapacityType, Discount, Objective, PlannerPolicy, Snapshot, plan
from engines.planner.assemble import node_id_for
from engines.planner.catalog import INTERRUPTION_BUCKET_RATE
from tests.engines.planner.planner_builders import TINY_TYPES, check_plan, pod, tiny_catalog

CATALOG = tiny_catalog(serverless=False)


def _plan(pods, policy=None, catalog=CATALOG):
    policy = policy or PlannerPolicy()
    snapshot = Snapshot(pods=tuple(pods))
    result = plan(snapshot, policy, catalog)
    check_plan(result, snapshot, policy, catalog)
    return result


def test_spot_effective_price_adds_the_expected_interruption_cost():
    result = _plan([pod(1500, 1024)])
    for choice in result.launches[0].offerings:
        if choice.capacity_type is CapacityType.SPOT:
            rate = INTERRUPTION_BUCKET_RATE[choice.interruption_bucket]
            assert choice.effective_price_per_hour == pytest.approx(choice.price_per_hour * (1 + rate))
        else:
            assert choice.effective_price_per_hour == choice.price_per_hour


def test_availability_objective_weighs_interruptions_more():
    cost = _plan([pod(1500, 1024)], PlannerPolicy(objective=Objective.COST)).launches[0]
    careful = _plan([pod(1500, 1024)], PlannerPolicy(objective=Objective.AVAILABILITY)).launches[0]
    spot = [c for c in careful.offerings if c.capacity_type is CapacityType.SPOT]
    assert spot and all(
        c.effective_price_per_hour
        == pytest.approx(c.price_per_hour * (1 + 4 * INTERRUPTION_BUCKET_RATE[c.interruption_bucket]))
        for c in spot
    )
    assert careful.chosen.effective_price_per_hour >= cost.chosen.effective_price_per_hour


def test_spot_interruption_cap_excludes_riskier_offerings():
    policy = PlannerPolicy(spot_max_interruption_bucket=0)
    result = _plan([pod(500, 512) for _ in range(8)], policy)
    buckets = {
        o.interruption_bucket
        for launch in result.launches
        for o in launch.offerings
        if o.capacity_type is CapacityType.SPOT
    }
    assert buckets <= {0}


def test_discount_scales_every_price_the_planner_sees():
    discounted = CATALOG.with_discount(Discount(on_demand_pct=20, spot_pct=10))
    for offering in discounted.offerings:
        factor = 0.8 if offering.capacity_type is CapacityType.ON_DEMAND else 0.9
        assert offering.price == pytest.approx(offering.list_price * factor)
    full = _plan(
        [pod(500, 512) for _ in range(5)], PlannerPolicy(capacity_types=frozenset({CapacityType.ON_DEMAND}))
    )
    cheap = _plan(
        [pod(500, 512) for _ in range(5)],
        PlannerPolicy(capacity_types=frozenset({CapacityType.ON_DEMAND})),
        discounted,
    )
    assert cheap.cost_per_hour == pytest.approx(full.cost_per_hour * 0.8)


def test_discount_replaces_rather_than_stacks():
    twice = CATALOG.with_discount(Discount(on_demand_pct=50)).with_discount(Discount(on_demand_pct=10))
    for offering in twice.offerings:
        if offering.capacity_type is CapacityType.ON_DEMAND:
            assert offering.price == pytest.approx(offering.list_price * 0.9)


def test_discount_of_a_hundred_percent_is_refused():
    with pytest.raises(ValueError, match="below 100"):
        CATALOG.with_discount(Discount(spot_pct=100))


def test_fallback_list_spans_capacity_types_and_zones():
    result = _plan([pod(500, 512)])
    (launch,) = result.launches
    pairs = {(o.capacity_type, o.zone) for o in launch.offerings}
    assert {z for _, z in pairs} == {"z-a", "z-b", "z-c"}
    assert {c for c, _ in pairs} == {CapacityType.SPOT, CapacityType.ON_DEMAND}
    assert len(launch.offerings) <= PlannerPolicy().max_offerings_per_launch


def test_decision_names_the_chosen_offering_and_two_cheaper_alternatives_in_order():
    result = _plan([pod(500, 512)])
    decision = result.launches[0].decision
    assert decision.chosen == result.launches[0].chosen
    assert len(decision.runner_ups) >= 2
    prices = [decision.chosen.effective_price_per_hour] + [
        r.effective_price_per_hour for r in decision.runner_ups
    ]
    assert prices == sorted(prices)
    assert decision.chosen.instance_type in decision.reason
    assert {(r.instance_type, r.capacity_type) for r in decision.runner_ups}.isdisjoint(
        {(decision.chosen.instance_type, decision.chosen.capacity_type)}
    )


def test_the_reason_quotes_the_billed_price_and_names_the_risk_weighted_one() -> None:
    result = _plan([pod(500, 512)])
    chosen = result.launches[0].decision.chosen
    assert chosen.capacity_type is CapacityType.SPOT  # spot is ranked with its interruption risk
    assert chosen.effective_price_per_hour > chosen.price_per_hour
    reason = result.launches[0].decision.reason
    assert f"at ${chosen.price_per_hour:.4f}/h" in reason
    assert f"${chosen.effective_price_per_hour:.4f}/h counting its interruption risk" in reason


def test_reasons_name_capacity_types_as_people_write_them() -> None:
    policy = PlannerPolicy(capacity_types=frozenset({CapacityType.ON_DEMAND}))
    reason = _plan([pod(500, 512)], policy).launches[0].decision.reason
    assert " on-demand " in reason and "on_demand" not in reason


def test_node_ids_depend_only_on_the_pods_they_carry():
    pods = [pod(500, 512) for _ in range(3)]
    first = _plan(pods)
    again = _plan(list(reversed(pods)))
    assert {launch.node_id for launch in first.launches} == {launch.node_id for launch in again.launches}
    assert first.launches[0].node_id == node_id_for(list(reversed(first.launches[0].pod_uids)))
    other = _plan([pod(500, 512) for _ in range(3)])
    assert {launch.node_id for launch in other.launches}.isdisjoint(
        {launch.node_id for launch in first.launches}
    )


def test_equally_cheap_nodes_spread_over_zones():
    policy = PlannerPolicy(capacity_types=frozenset({CapacityType.ON_DEMAND}))
    result = _plan([pod(1500, 1024, isolate=True) for _ in range(3)], policy)
    assert len({launch.chosen.zone for launch in result.launches}) == 3


def test_cheapest_spot_wins_when_allowed():
    result = _plan([pod(500, 512)])
    spot_prices = [
        spot * (1 + INTERRUPTION_BUCKET_RATE[bucket])
        for _, on_demand, spot, bucket, _ in TINY_TYPES.values()
        if spot is not None
    ]
    assert result.launches[0].chosen.capacity_type is CapacityType.SPOT
    assert result.launches[0].chosen.effective_price_per_hour >= min(spot_prices)
