"""Rounding a metered interval to the ledger's 1e-10 dollars so that its stored rows tie out.

Rounding every figure on its own leaves a node's allocated and idle cost, or a cluster's node
rows, up to a few 1e-10 off the total they split — visible to anyone who adds up an export. So
each split is rounded as a whole (largest remainder): node costs to the interval's node cost, and
per capacity type the pods' and the idle row's costs to what that type's nodes cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from engines.metering import IntervalUsage

_SCALE = 10  # the ledger keeps 10 decimal places (`_money()` fields)


def money(value: float) -> Decimal:
    return Decimal(value).quantize(Decimal(1).scaleb(-_SCALE))


def apportioned(values: Sequence[float], total: Decimal) -> list[Decimal]:
    """`values` rounded to the ledger's unit so that they sum exactly to `total` (a whole number
    of units): each is rounded down, then the units still missing go to the largest remainders
    (or, when the values overshoot, come off the smallest). Values that miss `total` by more
    than rounding can explain are rounded each on its own: there is nothing to tie out."""
    exact = [Decimal(value).scaleb(_SCALE) for value in values]
    units = [int(amount.to_integral_value(ROUND_FLOOR)) for amount in exact]
    missing = int(total.scaleb(_SCALE)) - sum(units)
    if abs(missing) > len(units):
        return [money(value) for value in values]
    remainders = [amount - whole for amount, whole in zip(exact, units, strict=True)]
    step = 1 if missing > 0 else -1
    for index in sorted(range(len(units)), key=remainders.__getitem__, reverse=step > 0):
        if missing and units[index] + step >= 0:
            units[index] += step
            missing -= step
    return [Decimal(whole).scaleb(-_SCALE) for whole in units]


@dataclass(frozen=True, slots=True)
class NodeAmounts:
    cost: Decimal
    on_demand_cost: Decimal
    allocated_cost: Decimal

    @property
    def idle_cost(self) -> Decimal:
        return self.cost - self.allocated_cost


@dataclass(frozen=True, slots=True)
class AllocationAmounts:
    cost: Decimal
    on_demand_cost: Decimal
    serverless_cost: Decimal


@dataclass(frozen=True, slots=True)
class RoundedUsage:
    """The interval's money, rounded; `nodes` and `allocations` follow `usage.nodes` and
    `usage.allocations` index for index, and every total is the sum of its rounded rows."""

    nodes: tuple[NodeAmounts, ...]
    allocations: tuple[AllocationAmounts, ...]
    node_cost: Decimal
    node_cost_by_type: dict[str, Decimal]
    allocated_cost: Decimal
    idle_cost: Decimal
    on_demand_cost: Decimal
    serverless_cost: Decimal


def _sums_by_type(usage: IntervalUsage, amounts: Sequence[Decimal]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for node, amount in zip(usage.nodes, amounts, strict=True):
        totals[node.capacity_type] = totals.get(node.capacity_type, Decimal(0)) + amount
    return totals


def _apportioned_within(
    items: Sequence[object],
    capacity_type_of: Sequence[str],
    values: Sequence[float],
    totals: dict[str, Decimal],
) -> list[Decimal]:
    """`values` rounded so that, per capacity type, they add up to that type's total."""
    rounded: dict[int, Decimal] = {}
    for capacity_type, total in totals.items():
        indexes = [i for i in range(len(items)) if capacity_type_of[i] == capacity_type]
        rounded.update(zip(indexes, apportioned([values[i] for i in indexes], total), strict=True))
    return [rounded[i] for i in range(len(items))]


def _split(usage: IntervalUsage, field: str) -> tuple[list[Decimal], list[Decimal]]:
    """One money field (`cost` or `on_demand_cost`), rounded in two levels: the interval's total
    over capacity types, then each type's share over its nodes and, separately, over its
    allocation rows. Each step misses by at most a unit per part, which `apportioned` can always
    place; one level (nodes first, rows to their rounded sum) could not for a type with many
    nodes and few rows."""
    node_values = [float(getattr(node, field)) for node in usage.nodes]
    row_values = [float(getattr(row, field)) for row in usage.allocations]
    node_types = [node.capacity_type for node in usage.nodes]
    row_types = [row.capacity_type for row in usage.allocations]
    types = sorted({*node_types, *row_types})
    exact = [sum(v for v, t in zip(node_values, node_types, strict=True) if t == kind) for kind in types]
    totals = dict(zip(types, apportioned(exact, money(sum(node_values))), strict=True))
    return (
        _apportioned_within(usage.nodes, node_types, node_values, totals),
        _apportioned_within(usage.allocations, row_types, row_values, totals),
    )


def rounded_usage(usage: IntervalUsage) -> RoundedUsage:
    costs, allocation_costs = _split(usage, "cost")
    on_demand, allocation_on_demand = _split(usage, "on_demand_cost")
    nodes = tuple(
        NodeAmounts(cost, on_demand_cost, min(money(node.allocated_cost), cost))
        for node, cost, on_demand_cost in zip(usage.nodes, costs, on_demand, strict=True)
    )
    allocations = tuple(
        AllocationAmounts(cost, on_demand_cost, money(row.serverless_cost))
        for row, cost, on_demand_cost in zip(
            usage.allocations, allocation_costs, allocation_on_demand, strict=True
        )
    )
    pairs = list(zip(usage.allocations, allocations, strict=True))
    return RoundedUsage(
        nodes=nodes,
        allocations=allocations,
        node_cost=sum(costs, Decimal(0)),
        node_cost_by_type=_sums_by_type(usage, costs),
        allocated_cost=sum((amounts.cost for row, amounts in pairs if not row.idle), Decimal(0)),
        idle_cost=sum((amounts.cost for row, amounts in pairs if row.idle), Decimal(0)),
        on_demand_cost=sum((amounts.on_demand_cost for amounts in allocations), Decimal(0)),
        serverless_cost=sum((amounts.serverless_cost for amounts in allocations), Decimal(0)),
    )
