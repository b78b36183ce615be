"""Marginal price of n identical replicas in a nodeless cluster: the cheapest packing onto new nodes.

Problem: shapes i with price p_i each hold k_i replicas (see ``NodeShape.replicas_per_node``);
find ``f(n) = min Σ p_i·x_i`` over non-negative integers with ``Σ k_i·x_i ≥ n``.

Algorithm (exact):
1. Drop shapes that hold no replica, and shapes dominated by one at most as expensive that holds
   at least as many replicas.
2. Let b be the shape with the lowest price per replica (ties: the larger node). Exchange
   argument: k_b nodes of any other shape i (k_b·k_i replicas, cost k_b·p_i) can be replaced by
   k_i nodes of b (same replicas, cost k_i·p_b ≤ k_b·p_i). So some optimal packing uses every
   other shape fewer than k_b times, and their replicas total at most
   ``bound = Σ_{i≠b} (k_b − 1)·k_i``.
3. For n > bound that optimum must use b at least once, hence ``f(n) = p_b + f(n − k_b)``.
4. Below that, dynamic programming: ``f(0) = 0``, ``f(j) = min_i p_i + f(max(0, j − k_i))``,
   extended lazily only as far as the counts actually asked for.

A ``PackingCost`` prices one (price model, request) pair one count at a time. ``CostModel``
prices one request in every cluster at once: observe clusters by their rates, nodeless clusters
from a (price model × count) table filled by the same dynamic programme for all models together.
``Fleet`` memoises one ``CostModel`` per request shape, so a loop pass pays for each distinct
request shape once.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from engines.federation.model import NodelessPricing, Resources


class PackingCost:
    """``cost(n)``: cheapest $/hour of n replicas of ``request`` on new nodes of ``pricing``.

    ``best_price``/``best_per_node`` describe the best node of step 2 and ``bound`` the count of
    step 3; ``fits`` is False when no shape holds even one replica.
    """

    __slots__ = ("_table", "best_per_node", "best_price", "bound", "fits", "options")

    def __init__(self, pricing: NodelessPricing, request: Resources) -> None:
        candidates = sorted(
            {
                (shape.hourly_price, per_node)
                for shape in pricing.shapes
                if (per_node := shape.replicas_per_node(request)) > 0
            },
            key=lambda option: (option[0], -option[1]),
        )
        options: list[tuple[float, int]] = []
        most_per_node = 0
        for price, per_node in candidates:
            # Sorted by price, so a shape is useful only if it holds more than every cheaper one.
            if per_node > most_per_node:
                options.append((price, per_node))
                most_per_node = per_node
        # (price, replicas per node) of the shapes worth using, cheapest first.
        self.options = tuple(options)
        self._table: list[float] = [0.0]
        self.fits = bool(options)
        self.best_price, self.best_per_node, self.bound = math.inf, 1, 0
        if options:
            self.best_price, self.best_per_node = min(
                options, key=lambda option: (option[0] / option[1], -option[1])
            )
            self.bound = sum(
                (self.best_per_node - 1) * per_node
                for _, per_node in options
                if per_node != self.best_per_node
            )

    def cost(self, replicas: int) -> float:
        if replicas <= 0:
            return 0.0
        if not self.fits:
            return math.inf
        extra_nodes = 0
        if replicas > self.bound:
            extra_nodes = -(-(replicas - self.bound) // self.best_per_node)
            replicas = max(0, replicas - extra_nodes * self.best_per_node)
        table = self._table
        for count in range(len(table), replicas + 1):
            table.append(min(price + table[max(0, count - per_node)] for price, per_node in self.options))
        return extra_nodes * self.best_price + table[replicas]


class CostModel:
    """Price of n replicas of one request in every cluster of a fleet, vectorised.

    Observe clusters: ``n · unit[cluster]``. Nodeless clusters: their price model's
    ``PackingCost``, read from a (model × count) table built once per request shape, so a decision
    costs a few array operations however many distinct price models the fleet has.
    """

    __slots__ = (
        "_group_list",
        "_matrix_table",
        "_per_replica",
        "_unit_list",
        "all_placeable",
        "demand",
        "group",
        "packings",
        "placeable",
        "unit",
    )

    # Counts beyond this are priced one cluster at a time instead of through a table.
    TABLE_LIMIT = 4096

    def __init__(
        self,
        request: Resources,
        unit: npt.NDArray[np.float64],
        group: npt.NDArray[np.int64],
        packings: list[PackingCost],
    ) -> None:
        # One replica's demand on (cpu, memory, gpu, pod slots), the layout of Fleet's free capacity.
        self.demand = (request.cpu_millicores, request.memory_mib, request.gpu, 1)
        self.unit = unit
        self._unit_list: list[float] = unit.tolist()
        self.group = group
        self._group_list: list[int] = group.tolist()
        self.packings = packings
        self._matrix_table: npt.NDArray[np.float64] | None = None
        self._per_replica: dict[int, npt.NDArray[np.float64]] = {}
        fits = np.asarray([packing.fits for packing in packings] + [True], dtype=np.bool_)
        # Per cluster: can one replica run at all? Group -1 (observe) reads the trailing True.
        self.placeable: npt.NDArray[np.bool_] = fits[group]
        self.all_placeable = bool(self.placeable.all())

    def costs(
        self,
        indices: npt.NDArray[np.int64],
        counts: npt.NDArray[np.int64],
        nodeless: npt.NDArray[np.int64],
        groups: npt.NDArray[np.int64],
        upper: int,
    ) -> npt.NDArray[np.float64]:
        """$/hour of ``counts[i]`` replicas in cluster ``indices[i]``.

        ``nodeless`` are the positions in ``indices`` of nodeless clusters and ``groups`` their
        price models; every count is at most ``upper``.
        """
        costs: npt.NDArray[np.float64] = self.unit[indices] * counts
        if len(nodeless):
            costs[nodeless] = self._nodeless_costs(groups, counts[nodeless], upper)
        return costs

    def _nodeless_costs(
        self, groups: npt.NDArray[np.int64], wanted: npt.NDArray[np.int64], upper: int
    ) -> npt.NDArray[np.float64] | list[float]:
        if upper < self.TABLE_LIMIT:
            costs: npt.NDArray[np.float64] = self._matrix(upper + 1)[groups, wanted]
            return costs
        packings = self.packings
        return [
            packings[group].cost(count) for group, count in zip(groups.tolist(), wanted.tolist(), strict=True)
        ]

    def per_replica(
        self,
        eligible_key: int,
        indices: npt.NDArray[np.int64],
        caps: npt.NDArray[np.int64],
        nodeless: npt.NDArray[np.int64],
        groups: npt.NDArray[np.int64],
        target: int,
    ) -> npt.NDArray[np.float64]:
        """$/replica-hour of ``min(caps[i], target)`` replicas in cluster ``indices[i]``.

        An observe cluster's price per replica does not depend on the count, so only nodeless
        clusters are looked up; ``eligible_key`` memoises the observe part per cluster set.
        """
        unit = self._per_replica.get(eligible_key)
        if unit is None:
            unit = self._per_replica[eligible_key] = self.unit[indices]
        prices = unit.copy()
        if len(nodeless) and target > 0:
            wanted = np.minimum(caps[nodeless], target)
            prices[nodeless] = np.asarray(self._nodeless_costs(groups, wanted, target)) / np.maximum(
                wanted, 1
            )
        return prices

    def cost(self, index: int, count: int) -> float:
        group = self._group_list[index]
        if group >= 0:
            return self.packings[group].cost(count)
        return self._unit_list[index] * count

    def _matrix(self, width: int) -> npt.NDArray[np.float64]:
        """(price model × count) table of packing costs with at least ``width`` columns.

        Step 4's dynamic programme, run for every price model at once: column j is the cheapest
        of (one node of shape s + column j − replicas per node of s) over the shapes. One table
        grows by doubling and smaller widths read a prefix of it.
        """
        matrix = self._matrix_table
        if matrix is not None and matrix.shape[1] >= width:
            return matrix
        size = 1 << max(3, (width - 1).bit_length())
        count = len(self.packings)
        widest = max((len(packing.options) for packing in self.packings), default=0)
        # Padding shapes cost infinity and hold one replica, so they are never the minimum.
        prices = np.full((count, max(1, widest)), np.inf)
        per_node = np.ones((count, max(1, widest)), dtype=np.int64)
        for row, packing in enumerate(self.packings):
            for column, (price, holds) in enumerate(packing.options):
                prices[row, column], per_node[row, column] = price, holds
        table = np.zeros((count, size))
        start = 1
        if matrix is not None:
            table[:, : matrix.shape[1]] = matrix
            start = matrix.shape[1]
        rows = np.arange(count)[:, None]
        for column in range(start, size):
            previous = table[rows, np.maximum(column - per_node, 0)]
            table[:, column] = (prices + previous).min(axis=1)
        self._matrix_table = table
        return table
