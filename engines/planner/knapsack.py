"""The most valuable set of pods one node can hold: a small multi-resource integer knapsack.

Used to price pattern columns in the LP (column generation): given a dual value per pod
class, find the pod multiset of greatest total value that fits one node. Depth-first branch
and bound:

1. Keep the classes with a positive value that fit the node alone, densest first (value per
   share of the node).
2. At each step try the largest count of the next class that still fits, then fewer.
3. Prune a branch when even an optimistic bound cannot beat the best pattern found. The bound
   is a surrogate relaxation: the resources are folded into one with the weights that solve the
   knapsack's LP relaxation, and the room left, in that folded resource, is filled with the
   classes still to decide, densest first and each up to its count cap, the last one
   fractionally (Dantzig's bound, in one dimension). Without the caps it would be the LP bound
   at the root; with them it is tighter, which matters where a node holds a few GPU pods of
   many classes of one or two pods each.
4. Skip symmetric work: a class dominated by an earlier one (no more of any resource, at least
   its value) takes pods only once the dominator is at its cap. Swapping a dominated pod for a
   dominator's keeps a pattern feasible and no less valuable, so an optimal pattern of that
   form always exists; GPU nodes with many near-identical classes otherwise try every mix.

Callers price many nodes per round: `quick_bounds` screens them all at once with step 3's
cheapest form, and `hint` lets a node reuse last round's surrogate weights before the LP.

The search stops after `node_limit` steps; it then reports the LP bound as the certified
upper bound on the best value, so callers stay correct (only less tight).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from operator import mul

import highspy
import numpy as np

from engines.planner.highs import quiet_solver
from engines.planner.table import BoolArray, FloatArray, IntArray

DEFAULT_NODE_LIMIT = 3_000


@dataclass(frozen=True, slots=True)
class Pattern:
    value: float
    counts: dict[int, int]
    upper_bound: float
    # The surrogate weights (over all resources) the LP relaxation gave, when it was solved: a
    # good `hint` for the same node in the next pricing round, whose values differ a little.
    surrogate: FloatArray | None = None


def best_pattern(
    values: FloatArray,
    vectors: IntArray,
    capacity: IntArray,
    allowed: IntArray,
    caps: IntArray,
    threshold: float = 0.0,
    node_limit: int = DEFAULT_NODE_LIMIT,
    hint: FloatArray | None = None,
) -> Pattern:
    """Maximize sum(values[c] * x[c]) subject to sum(x[c] * vectors[c]) <= capacity, for the
    classes in `allowed`, with 0 <= x[c] <= caps[c] integer.

    Only patterns worth more than `threshold` matter: when none exists the result is empty and
    its `upper_bound` (a certified bound on every pattern's value) is at most the threshold.
    `hint` (resource weights, e.g. an earlier result's `surrogate`) is tried as a surrogate
    before the LP relaxation is solved: when it already bounds every pattern at or below the
    threshold, the LP is skipped.
    """
    allowed = allowed[(values[allowed] > 0) & (caps[allowed] > 0)]
    usable = [int(c) for c in allowed[np.all(vectors[allowed] <= capacity, axis=1)]]
    if not usable:
        return Pattern(0.0, {}, 0.0)
    dims = np.flatnonzero(vectors[usable].max(axis=0) > 0)
    weights_by_class = vectors[usable][:, dims].astype(np.float64)
    room0 = capacity[dims].astype(np.float64)
    usable_mask = np.zeros((len(values), 1), bool)
    usable_mask[usable] = True
    quick_bound = float(quick_bounds(values, vectors, capacity[None, :], usable_mask)[0])
    if quick_bound <= threshold:
        return Pattern(0.0, {}, quick_bound)
    if hint is not None:
        hinted = _surrogate_bound(values[usable], weights_by_class, room0, hint[dims])
        if hinted <= threshold:
            return Pattern(0.0, {}, min(hinted, quick_bound), hint)
    surrogate, lp_bound = _surrogate_weights(values[usable], weights_by_class, room0)
    lp_bound = min(lp_bound, quick_bound)
    weights = np.zeros(len(capacity))
    weights[dims] = surrogate
    if lp_bound <= threshold:
        return Pattern(0.0, {}, lp_bound, weights)  # even the LP relaxation cannot beat the threshold
    classes = _densest_first(usable, values, vectors, caps, dims, weights_by_class @ surrogate, surrogate)
    best_value, best_counts, complete = _search(
        classes, [int(capacity[d]) for d in dims], threshold, node_limit
    )
    chosen = {classes.order[i]: n for i, n in enumerate(best_counts) if n}
    value = best_value if chosen else 0.0
    return Pattern(value, chosen, best_value if complete else lp_bound, weights)


def _surrogate_bound(
    values: FloatArray, weights: FloatArray, room: FloatArray, surrogate: FloatArray
) -> float:
    """The surrogate relaxation's bound for these resource weights: any pattern's folded weight is
    at most the folded room, filled at the best value density. Valid for every non-negative
    weights (the LP relaxation's dual weights make it smallest); infinite when a class uses no
    weighted resource."""
    folded = weights @ surrogate
    if not np.all(folded > 0):
        return float("inf")
    return float(room @ surrogate) * float(np.max(values / folded)) * (1.0 + 1e-9)


def quick_bounds(
    values: FloatArray, vectors: IntArray, capacities: IntArray, usable: BoolArray
) -> FloatArray:
    """The cheapest upper bound on the best pattern of many nodes at once: each resource alone,
    filled at its best value density among the node's usable classes (`usable[c, k]`: class c
    has a positive value and count cap, suits node k and fits it alone); the smallest over the
    resources. A class that does not use a resource is unbounded by it (infinite density
    there), and a node without usable classes is bounded by 0.

    `best_pattern` starts with the same test, so a caller may skip the nodes whose bound is
    already at most their threshold: their result would be empty with this bound."""
    with np.errstate(divide="ignore"):
        density = np.where(vectors > 0, values[:, None] / np.where(vectors > 0, vectors, 1), np.inf)
    best = np.where(usable[:, :, None], density[:, None, :], -np.inf).max(axis=0, initial=-np.inf)
    with np.errstate(invalid="ignore"):
        per_resource = np.where(np.isposinf(best), np.inf, capacities * best)
    bounds = per_resource.min(axis=1, initial=np.inf)
    return np.where(usable.any(axis=0), bounds, 0.0)


@dataclass(frozen=True, slots=True)
class _Classes:
    """The usable classes, densest first in the folded resource, as the search reads them: class
    ids, weights in the resources kept, values, count caps, folded weights, densities (the best
    among each class and those after it, as they are sorted; 0 past the last), and the folded
    weight and value of every class up to its cap, summed over the classes before each one."""

    order: list[int]
    weights: list[list[int]]
    gains: list[float]
    limits: list[int]
    folded: list[float]
    suffix_density: list[float]
    surrogate: list[float]
    capped_folded: list[float]
    capped_gains: list[float]
    dominators: list[list[int]]


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
    limits = caps[order].astype(np.float64)
    weights = vectors[order][:, dims]
    gains = values[order]
    # dominates[a, b]: class a uses no more of any resource than b and is worth at least as much.
    dominates = np.all(weights[:, None, :] <= weights[None, :, :], axis=2) & (
        gains[:, None] >= gains[None, :]
    )
    return _Classes(
        order=order,
        weights=[[int(vectors[c][d]) for d in dims] for c in order],
        gains=[float(values[c]) for c in order],
        limits=[int(caps[c]) for c in order],
        folded=[float(folded[i]) for i in order_index],
        # Sorted by density, so the best density among classes i.. is the i-th.
        suffix_density=[float(density[i]) for i in order_index] + [0.0],
        surrogate=[float(w) for w in surrogate],
        capped_folded=[0.0, *np.cumsum(limits * folded[order_index]).tolist()],
        capped_gains=[0.0, *np.cumsum(limits * values[order]).tolist()],
        dominators=_earlier(np.triu(dominates, 1)),
    )


def _earlier(relation: BoolArray) -> list[list[int]]:
    """For every column b of an upper-triangular relation, the rows a < b related to it."""
    earlier: list[list[int]] = [[] for _ in range(relation.shape[1])]
    for a, b in zip(*np.nonzero(relation), strict=True):
        earlier[int(b)].append(int(a))
    return earlier


def _search(
    classes: _Classes, root_room: list[int], threshold: float, node_limit: int
) -> tuple[float, list[int], bool]:
    """Steps 2 and 3 of the module's algorithm: (best value, its counts in `classes.order`, whether
    the search finished within `node_limit` steps).

    Every search node (a count chosen for each class so far) is one step. A parent tests its
    children itself, largest count first, and stops at the first one the bound prunes: the
    classes are densest first, so the room that fewer pods of this class leave can only be
    filled at a density no better than theirs, and the bound cannot grow; the smaller counts are
    then counted as the steps they would have taken. The last class is decided the same way:
    only its largest count can improve. Any valid bound visits the same improving patterns in
    the same order, so a tighter one only finishes sooner.
    """
    weights, gains, limits = classes.weights, classes.gains, classes.limits
    folded, density, surrogate = classes.folded, classes.suffix_density, classes.surrogate
    capped_folded, capped_gains, dominators = classes.capped_folded, classes.capped_gains, classes.dominators
    last = len(classes.order) - 1
    best_value = threshold
    best_counts: list[int] = [0] * len(classes.order)
    counts = [0] * len(classes.order)
    steps = 1  # the root
    complete = True

    def bound(i: int, folded_room: float) -> float:
        """Dantzig's bound on classes i.. in the folded resource: whole classes up to their caps
        while they fit, then a fraction of the next one (infinite when class i uses no weighted
        resource)."""
        if folded[i] <= 0:
            return float("inf")
        target = capped_folded[i] + folded_room
        j = bisect_right(capped_folded, target, i) - 1
        if j > last:
            return capped_gains[-1] - capped_gains[i]
        return capped_gains[j] - capped_gains[i] + (target - capped_folded[j]) * density[j]

    def skip(children: int) -> None:
        nonlocal steps, complete
        if steps + children > node_limit:
            steps, complete = node_limit + 1, False
        else:
            steps += children

    def expand(i: int, room: list[int], folded_room: float, value: float) -> None:
        nonlocal best_value, best_counts, steps, complete
        weight, gain, folded_weight = weights[i], gains[i], folded[i]
        most = limits[i]
        for free, used in zip(room, weight, strict=True):
            if used and free // used < most:
                most = free // used
        for dominator in dominators[i]:
            if counts[dominator] < limits[dominator]:
                most = 0  # a pod of the dominator would do at least as well as one of these
                break
        child = i + 1
        for count in range(most, -1, -1):
            steps += 1
            if steps > node_limit:
                complete = False
                break
            child_value = value + count * gain
            if child_value > best_value + 1e-12:
                counts[i] = count
                best_value, best_counts = child_value, counts.copy()
            if child > last:
                skip(count)  # leaves taking fewer pods are worth less
                break
            # The folded room is kept incrementally; its rounding is far below the 1e-12 slack.
            child_folded = folded_room - count * folded_weight
            if child_value + bound(child, child_folded) <= best_value + 1e-12:
                skip(count)
                break
            counts[i] = count
            expand(
                child,
                [free - count * used for free, used in zip(room, weight, strict=True)],
                child_folded,
                child_value,
            )
            if steps > node_limit:
                break
        counts[i] = 0

    root_folded = sum(map(mul, surrogate, root_room))
    if last >= 0 and bound(0, root_folded) > best_value + 1e-12:
        expand(0, root_room, root_folded, 0.0)
    return best_value, best_counts, complete


def _surrogate_weights(
    values: FloatArray, weights: FloatArray, capacity: FloatArray
) -> tuple[FloatArray, float]:
    """Resource weights from the dual of the knapsack's LP relaxation, and an upper bound on every
    integer pattern (the LP optimum). Count caps are left out: that only loosens the bound.

    The LP has a row per resource kept (at most five) and a column per class: a dense simplex
    tableau solves it in a few pivots, several times faster than setting up a HiGHS model (GPU
    catalogs price hundreds of nodes per plan). Whatever the pivots' rounding, the bound returned
    is the surrogate bound of the weights found, valid for any non-negative weights; HiGHS solves
    the rare case the pivots do not settle."""
    surrogate = _dual_by_simplex(values, weights, capacity)
    if surrogate is not None:
        bound = _surrogate_bound(values, weights, capacity, surrogate)
        if math.isfinite(bound):
            return surrogate, bound
    return _surrogate_weights_highs(values, weights, capacity)


# A tableau pivots at most this many times (the LP has at most five rows: a few dozen at worst).
_MAX_PIVOTS = 50
_TOLERANCE = 1e-9


def _dual_by_simplex(values: FloatArray, weights: FloatArray, capacity: FloatArray) -> FloatArray | None:
    """The resource prices at the optimum of max values·x subject to weightsᵀx <= capacity, x >= 0
    (capacity > 0, so the slacks start as a feasible basis), by the tableau simplex with Bland's
    rule: the first improving class enters, which cannot cycle. (Where the optimal prices are not
    unique, which ones it ends on steers the search among patterns of equal value; Dantzig's rule
    made alibaba-peak's plan 0.5 % dearer, Bland's gives the plan HiGHS's prices gave.) None when
    it does not settle within `_MAX_PIVOTS`."""
    classes, dims = weights.shape
    tableau = np.zeros((dims + 1, classes + dims + 1))
    tableau[:dims, :classes] = weights.T
    tableau[:dims, classes : classes + dims] = np.eye(dims)
    tableau[:dims, -1] = capacity
    tableau[dims, :classes] = -values
    for _ in range(_MAX_PIVOTS):
        improving = np.flatnonzero(tableau[dims, :-1] < -_TOLERANCE)
        if not len(improving):
            return np.maximum(tableau[dims, classes : classes + dims], 0.0)
        column = int(improving[0])
        entries = tableau[:dims, column]
        rows = np.flatnonzero(entries > _TOLERANCE)
        if not len(rows):
            return None  # unbounded: cannot happen with capacity > 0 and weights >= 0 per class used
        row = int(rows[np.argmin(tableau[rows, -1] / entries[rows])])
        tableau[row] /= tableau[row, column]
        pivot_column = tableau[:, column].copy()
        pivot_column[row] = 0.0
        tableau -= np.outer(pivot_column, tableau[row])
    return None


def _surrogate_weights_highs(
    values: FloatArray, weights: FloatArray, capacity: FloatArray
) -> tuple[FloatArray, float]:
    """`_surrogate_weights` by HiGHS."""
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
