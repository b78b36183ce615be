"""The most valuable set of pods one node can hold: a small multi-resource integer knapsack.

Used to price pattern columns in the LP (column generation): given a dual value per pod
class, find the pod multiset of greatest total value that fits one node. Depth-first branch
and bound:

1. Keep the classes with a positive value that fit the node alone, densest first (value per
   share of the node).
2. At each step try the largest count of the next class that still fits, then fewer.
3. Prune a branch when even an optimistic bound cannot beat the best pattern found. The bound
   is a surrogate relaxation: the resources are folded into one with the weights that solve the
   knapsack's LP relaxation (so the root bound is the LP bound), and the room left, in that
   folded resource, is filled at the best value density among the classes still to decide.

The search stops after `node_limit` steps; it then reports the LP bound as the certified
upper bound on the best value, so callers stay correct (only less tight).
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np

from engines.planner.highs import quiet_solver
from engines.planner.table import FloatArray, IntArray

DEFAULT_NODE_LIMIT = 3_000


@dataclass(frozen=True, slots=True)
class Pattern:
    value: float
    counts: dict[int, int]
    upper_bound: float


def best_pattern(
    values: FloatArray,
    vectors: IntArray,
    capacity: IntArray,
    allowed: IntArray,
    caps: IntArray,
    threshold: float = 0.0,
    node_limit: int = DEFAULT_NODE_LIMIT,
) -> Pattern:
    """Maximize sum(values[c] * x[c]) subject to sum(x[c] * vectors[c]) <= capacity, for the
    classes in `allowed`, with 0 <= x[c] <= caps[c] integer.

    Only patterns worth more than `threshold` matter: when none exists the result is empty and
    its `upper_bound` (a certified bound on every pattern's value) is at most the threshold.
    """
    usable = [int(c) for c in allowed if values[c] > 0 and np.all(vectors[c] <= capacity) and caps[c] > 0]
    if not usable:
        return Pattern(0.0, {}, 0.0)
    dims = np.flatnonzero(vectors[usable].max(axis=0) > 0)
    weights_by_class = vectors[usable][:, dims].astype(np.float64)
    room0 = capacity[dims].astype(np.float64)
    # Cheapest test first: each resource alone, filled at its best value density. A class that
    # does not use a resource is unbounded by it (infinite density there).
    with np.errstate(divide="ignore"):
        density_by_resource = np.where(
            weights_by_class > 0, values[usable][:, None] / weights_by_class, np.inf
        )
    quick_bound = float(np.min(room0 * density_by_resource.max(axis=0)))
    if quick_bound <= threshold:
        return Pattern(0.0, {}, quick_bound)
    surrogate, lp_bound = _surrogate_weights(values[usable], weights_by_class, room0)
    lp_bound = min(lp_bound, quick_bound)
    if lp_bound <= threshold:
        return Pattern(0.0, {}, lp_bound)  # even the LP relaxation cannot beat the threshold
    classes = _densest_first(usable, values, vectors, caps, dims, weights_by_class @ surrogate, surrogate)
    best_value, best_counts, complete = _search(
        classes, [int(capacity[d]) for d in dims], threshold, node_limit
    )
    chosen = {classes.order[i]: n for i, n in enumerate(best_counts) if n}
    value = best_value if chosen else 0.0
    return Pattern(value, chosen, best_value if complete else lp_bound)


@dataclass(frozen=True, slots=True)
class _Classes:
    """The usable classes, densest first in the folded resource, as the search reads them: class
    ids, weights in the resources kept, values, count caps, folded weights, and the best density
    among each class and those after it (0 past the last)."""

    order: list[int]
    weights: list[list[int]]
    gains: list[float]
    limits: list[int]
    folded: list[float]
    suffix_density: list[float]
    surrogate: list[float]


def _densest_first(
    usable: list[int],
    values: FloatArray,
    vectors: IntArray,
    caps: IntArray,
    dims: IntArray,
    folded: FloatArray,
    surrogate: FloatArray,
) -> _Classes:
    density = np.where(folded > 0, values[usable] / np.where(folded > 0, folded, 1.0), np.inf)
    order_index = np.argsort(-density, kind="stable")
    order = [usable[i] for i in order_index]
    return _Classes(
        order=order,
        weights=[[int(vectors[c][d]) for d in dims] for c in order],
        gains=[float(values[c]) for c in order],
        limits=[int(caps[c]) for c in order],
        folded=[float(folded[i]) for i in order_index],
        # Sorted by density, so the best density among classes i.. is the i-th.
        suffix_density=[float(density[i]) for i in order_index] + [0.0],
        surrogate=[float(w) for w in surrogate],
    )


def _search(
    classes: _Classes, root_room: list[int], threshold: float, node_limit: int
) -> tuple[float, list[int], bool]:
    """Steps 2 and 3 of the module's algorithm: (best value, its counts in `classes.order`, whether
    the search finished within `node_limit` steps)."""
    order, weights, gains, limits = classes.order, classes.weights, classes.gains, classes.limits
    folded_sorted, suffix_density, surrogate_list = classes.folded, classes.suffix_density, classes.surrogate
    resources = range(len(root_room))

    def bound(i: int, room: list[int]) -> float:
        if i == len(order):
            return 0.0
        if folded_sorted[i] <= 0:
            return float("inf")  # a class that uses no weighted resource: no useful bound
        return sum(w * r for w, r in zip(surrogate_list, room, strict=True)) * suffix_density[i]

    best_value = threshold
    best_counts: list[int] = [0] * len(order)
    counts = [0] * len(order)
    steps = 0
    complete = True

    def search(i: int, room: list[int], value: float) -> None:
        nonlocal best_value, best_counts, steps, complete
        steps += 1
        if steps > node_limit:
            complete = False
            return
        if value > best_value + 1e-12:
            best_value, best_counts = value, counts.copy()
        if i == len(order) or value + bound(i, room) <= best_value + 1e-12:
            return
        weight = weights[i]
        most = min([limits[i]] + [room[d] // weight[d] for d in resources if weight[d]])
        for count in range(most, -1, -1):
            counts[i] = count
            search(i + 1, [room[d] - count * weight[d] for d in resources], value + count * gains[i])
            if steps > node_limit:
                break
        counts[i] = 0

    search(0, root_room, 0.0)
    return best_value, best_counts, complete


def _surrogate_weights(
    values: FloatArray, weights: FloatArray, capacity: FloatArray
) -> tuple[FloatArray, float]:
    """Resource weights from the dual of the knapsack's LP relaxation, and its optimum (an upper
    bound on every integer pattern). Count caps are left out: that only loosens the bound."""
    classes, dims = weights.shape
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = classes, dims
    lp.col_cost_ = -values.astype(np.float64)
    lp.col_lower_ = np.zeros(classes)
    lp.col_upper_ = np.full(classes, np.inf)
    lp.row_lower_ = np.full(dims, -np.inf)
    lp.row_upper_ = capacity
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.arange(classes + 1) * dims
    lp.a_matrix_.index_ = np.tile(np.arange(dims), classes)
    lp.a_matrix_.value_ = weights.ravel()
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = classes, dims
    solver = quiet_solver()
    solver.passModel(lp)
    solver.run()
    surrogate = np.maximum(-np.asarray(solver.getSolution().row_dual), 0.0)
    if not np.any(surrogate > 0):
        surrogate = 1.0 / np.maximum(capacity, 1.0)
    return surrogate, -float(solver.getInfo().objective_function_value) * (1.0 + 1e-9)
