"""Rounding a metered interval to the ledger's 1e-10 dollars: the stored rows add up exactly to the
totals they split, whatever the prices and pods, and no figure moves by more than one unit."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.services.ledger_rounding import apportioned, money, rounded_usage
from engines.kube.capacity import CapacityType
from engines.metering import Interval, NodeSample, Quantities, meter_interval
from tests.engines.metering.test_metering_properties import T0, clusters

UNIT = Decimal("1e-10")
costs = st.lists(st.floats(min_value=0, max_value=500, allow_nan=False), max_size=12)


def test_rounding_each_part_alone_can_miss_the_total_and_apportioning_never_does() -> None:
    # three thirds of 1e-10 dollars round to 0 each; their total, 1e-10, does not
    parts = [1e-10 / 3] * 3
    total = money(sum(parts))
    assert sum(money(part) for part in parts) != total
    assert sum(apportioned(parts, total)) == total


@settings(max_examples=400, deadline=None)
@given(costs)
def test_apportioned_parts_sum_to_the_rounded_total_and_each_stays_within_a_unit(parts) -> None:
    total = money(sum(parts))
    rounded = apportioned(parts, total)
    assert sum(rounded, Decimal(0)) == total
    for part, amount in zip(parts, rounded, strict=True):
        assert amount >= 0 and abs(amount - Decimal(part)) < UNIT


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_a_rounded_interval_ties_out_node_by_node_and_type_by_type(cluster) -> None:
    nodes, pods = cluster
    usage = meter_interval(Interval(T0, T0 + 60), nodes, pods)
    rounded = rounded_usage(usage)
    assert rounded.node_cost == sum(node.cost for node in rounded.nodes) == money(usage.node_cost)
    assert rounded.allocated_cost + rounded.idle_cost == rounded.node_cost
    for node in rounded.nodes:
        assert 0 <= node.allocated_cost <= node.cost and node.idle_cost >= 0
    for capacity_type, node_cost in rounded.node_cost_by_type.items():
        rows = [
            amounts.cost
            for row, amounts in zip(usage.allocations, rounded.allocations, strict=True)
            if row.capacity_type == capacity_type
        ]
        assert sum(rows, Decimal(0)) == node_cost
    for row, amounts in zip(usage.allocations, rounded.allocations, strict=True):
        assert amounts.cost >= 0 and abs(amounts.cost - Decimal(row.cost)) <= UNIT


def test_a_type_with_many_nodes_and_one_row_still_ties_out() -> None:
    # Six nodes of 10.5 units (1e-10 dollars) each, three per capacity type, and no pods: each
    # type's one idle row must carry 31.5 units rounded the same way as its nodes' total.
    price = 10.5e-10 * 60  # dollars per hour, so each costs 10.5 units in the minute
    nodes = [
        NodeSample(
            f"{kind}-{i}",
            "t",
            kind,
            "z",
            price,
            Quantities(2, 8),
            Quantities(2, 8),
            on_demand_price_per_hour=price,
        )
        for kind in (CapacityType.SPOT, CapacityType.ON_DEMAND)
        for i in range(3)
    ]
    usage = meter_interval(Interval(T0, T0 + 60), nodes, [])
    rounded = rounded_usage(usage)
    assert rounded.allocated_cost + rounded.idle_cost == rounded.node_cost == money(usage.node_cost)
    for capacity_type, node_cost in rounded.node_cost_by_type.items():
        rows = [
            a.cost
            for r, a in zip(usage.allocations, rounded.allocations, strict=True)
            if r.capacity_type == capacity_type
        ]
        assert sum(rows, Decimal(0)) == node_cost
