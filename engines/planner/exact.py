"""Exact packing of small batches: every node pattern enumerated, solved by HiGHS branch-and-bound.

The provisioning loop mostly sees a few pods at a time, where the LP guides of `packing` can
be far from the optimum (a tenth of a node matters on a plan of three) and the LP bound is
loose. Below a size where HiGHS proves the optimum within the loop's budget, the engine solves
the packing exactly instead, as the integer program over node patterns (Gilmore-Gomory):

    minimize    sum_P p_k(P) u_P + sum_c s_c w_c
    subject to  sum_P x_cP u_P + sum_e v_ce + w_c >= n_c      every class c
                sum_c r_cd v_ce                  <= f_ed      every existing node e, resource d
                u, v, w integer >= 0

A pattern P of column k is a multiset of pods (x_cP of class c) that one node of k holds, every
class suiting the column; u_P counts the nodes filled with it. A column stands for every offering
of its instance type with the same compatibility with every class (the cheapest of them), so
the optimum over columns is the optimum over offerings. Covering (>=) instead of equality lets
the model keep only *maximal* patterns - a node can always carry fewer pods - and only where
their column is the cheapest that holds them (a pattern also held by a cheaper column is never
needed there). u_P never needs to exceed the copies that cover one of its classes alone (one
more copy would be redundant).

Its LP relaxation is the tight one of column generation, and branch-and-bound closes the rest.
The solver stops at the time and node limits the caller gives. Its dual bound is a valid lower
bound on any packing of these pods whether or not it finished. When it did not finish (a few
batches in a hundred), residual rounding - the whole part of the LP optimum, then the rest
solved exactly - finds a packing too. The engine runs its heuristics as well unless the packing
is proven optimal, and keeps the cheapest packing, so a time-out never makes a plan worse.
Batches whose patterns are too many to enumerate keep the heuristics alone.

The heuristics' packing is not given to the solver as a start: HiGHS 1.16, given a start and
presolving, reports the objective of its presolved model without the presolve's offset - an
"optimum" and a bound below the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
from highspy._core import _Highs

from engines.planner.highs import quiet_solver
from engines.planner.lp import dominated_columns
from engines.planner.lp_model import BOUND_SAFETY_MARGIN, pods_per_node
from engines.planner.packing import (
    PackedNode,
    Packer,
    PackingInput,
    PackingResult,
    how_many_fit,
    node_load,
)
from engines.planner.table import BoolArray, FloatArray, IntArray

# Batches above this many packed pods, or with more node patterns, keep the heuristics alone:
# beyond them HiGHS rarely proves the optimum within the provisioning loop's budget.
EXACT_MAX_PODS = 64
EXACT_MAX_PATTERNS = 20_000
# Enumerating patterns stops after building this many candidate multisets (tens of milliseconds).
EXACT_MAX_CANDIDATES = 400_000
# The solver stops once its best packing is proven this close (relatively) to optimal.
EXACT_RELATIVE_GAP = 1e-6
# The share of the budget for branch-and-bound on the whole model; residual rounding gets the
# rest when it runs out.
FULL_SHARE = 0.4


@dataclass(frozen=True, slots=True)
class ExactBudget:
    """How long the exact pass may search: the solver's wall-clock seconds (HiGHS keeps the time;
    enumerating patterns before it is capped in work, see `node_patterns`) and branch-and-bound
    nodes. Batches it solves to optimality get the same plan however busy the machine is; on
    the few it cannot, the plan is the best found when the time runs out."""

    seconds: float = 0.2
    nodes: int = 2000


@dataclass(frozen=True, slots=True)
class ExactPacking:
    """What the exact pass found: a lower bound on every packing of the classes, its best packing
    (None if it found none in time), whether that packing is proven optimal, and the node
    patterns it solved over (for `reoptimize` when it is not)."""

    result: PackingResult | None
    bound: float
    optimal: bool
    patterns: Patterns


def solve_exact(data: PackingInput, budget: ExactBudget) -> ExactPacking | None:
    """Solve the packing of `data` exactly within `budget`; None when the batch is too big to
    try, or the solver failed. Its bound is the larger of branch-and-bound's dual bound and,
    when that did not finish, the optimum of the LP relaxation (zero when neither was reached in
    time). When it found no packing in time (or none exists) the answer has none, and keeps the
    patterns for `reoptimize`."""
    if int(data.class_counts.sum()) > EXACT_MAX_PODS or budget.seconds <= 0:
        return None
    patterns = node_patterns(data)
    if patterns is None:
        return None
    return _Model(data, patterns).solve(budget)


@dataclass(frozen=True, slots=True)
class Patterns:
    """Node patterns: pods of each class (`counts[i]`), on column `column[i]`."""

    counts: IntArray
    column: IntArray


def node_patterns(data: PackingInput, limit: int = EXACT_MAX_PATTERNS) -> Patterns | None:
    """The maximal patterns of every column that is the cheapest holder of them (see the module
    docstring); None when there are more than `limit`, or enumerating them would build more
    than EXACT_MAX_CANDIDATES candidate multisets (a cap on work, as the engine reads no clock).

    Columns are ranked cheapest first (ties: lowest index). Only columns neither dominated nor
    *covered* are enumerated: a column is covered when a better-ranked enumerable one suits
    every class it may carry and has room for all of them at once, so holds every pattern it
    could have. A pattern is then kept on its best-ranked enumerated holder. Whatever a dropped
    pattern carries, a kept one of no higher price carries too: following better-ranked
    holders and their maximal extensions ends, ranks only decreasing, at a kept pattern.
    """
    fit = pods_per_node(data.class_vectors, data.column_alloc)
    ok = data.column_ok & (fit > 0)
    used = np.flatnonzero(data.class_vectors.max(axis=0, initial=0) > 0)
    node_for_node = np.ones(len(data.column_cost), bool)
    kept = ~dominated_columns(data.column_alloc, data.column_cost, ok, fit, node_for_node, used)
    caps = np.where(ok, np.minimum(data.class_counts[:, None], fit), 0)
    rank = np.empty(len(data.column_cost), np.int64)
    rank[np.lexsort((np.arange(len(data.column_cost)), data.column_cost))] = np.arange(len(rank))
    enumerated = _uncovered(data, np.flatnonzero(kept & ok.any(axis=0)), caps, ok, rank)
    counts: list[IntArray] = []
    columns: list[IntArray] = []
    total, work = 0, EXACT_MAX_CANDIDATES
    for column in enumerated:
        enumeration = _maximal_patterns(
            data.class_vectors, caps[:, column], data.column_alloc[column], limit - total, work
        )
        if enumeration is None:
            return None
        found, built = enumeration
        total, work = total + len(found), work - built
        counts.append(found)
        columns.append(np.full(len(found), column, np.int64))
    if not counts:
        return Patterns(np.zeros((0, len(data.class_counts)), np.int64), np.zeros(0, np.int64))
    patterns = Patterns(np.vstack(counts), np.concatenate(columns))
    return _best_holders(data, patterns, ok, enumerated, rank)


def _uncovered(
    data: PackingInput, columns: IntArray, caps: IntArray, ok: BoolArray, rank: IntArray
) -> IntArray:
    """`columns` less those a better-ranked one of them covers (see `node_patterns`)."""
    reach = np.minimum(data.column_alloc[columns], caps[:, columns].T @ data.class_vectors)
    alloc = data.column_alloc[columns]
    room = np.all(alloc[:, None, :] >= reach[None, :, :], axis=2)  # [coverer, covered]
    suits = ((~ok[:, columns]).T.astype(np.int64) @ (caps[:, columns] > 0).astype(np.int64)) == 0
    better = rank[columns][:, None] < rank[columns][None, :]
    return np.asarray(columns[~np.any(room & suits & better, axis=0)], dtype=np.int64)


def _maximal_patterns(
    vectors: IntArray, caps: IntArray, alloc: IntArray, limit: int, work: int
) -> tuple[IntArray, int] | None:
    """Every multiset of pods (at most caps[c] of class c) that fits `alloc` and takes no more
    pod, built class by class, and how many candidates that took; None when more than `limit`
    multisets fit or more than `work` candidates would be built. (A partial multiset is a
    multiset that fits, so no step holds more rows than the last.)"""
    classes = np.flatnonzero(caps > 0)
    rows = np.zeros((1, len(caps)), np.int16)  # counts stay below EXACT_MAX_PODS
    load = np.zeros((1, vectors.shape[1]), np.int64)
    built = 0
    for pod_class in classes:
        copies = np.arange(caps[pod_class] + 1)
        built += len(rows) * len(copies)
        if built > work:
            return None
        grown_load = (load[:, None, :] + copies[None, :, None] * vectors[pod_class]).reshape(
            -1, load.shape[1]
        )
        grown = np.repeat(rows, len(copies), axis=0)
        grown[:, pod_class] = np.tile(copies, len(rows))
        fits = np.all(grown_load <= alloc, axis=1)
        rows, load = grown[fits], grown_load[fits]
        if len(rows) > limit:
            return None
    maximal = rows.sum(axis=1, dtype=np.int64) > 0
    for pod_class in classes:
        room = np.all(load + vectors[pod_class] <= alloc, axis=1)
        maximal &= ~((rows[:, pod_class] < caps[pod_class]) & room)
    return np.asarray(rows[maximal], dtype=np.int64), built


def _best_holders(
    data: PackingInput, patterns: Patterns, ok: BoolArray, columns: IntArray, rank: IntArray
) -> Patterns:
    """Keep each pattern only on its best-ranked holder among the enumerated `columns`."""
    load = patterns.counts @ data.class_vectors
    ordered = columns[np.argsort(rank[columns])]
    holds = np.all(load[:, None, :] <= data.column_alloc[ordered][None, :, :], axis=2)
    holds &= ((patterns.counts > 0).astype(np.int64) @ (~ok[:, ordered]).astype(np.int64)) == 0
    best = ordered[np.argmax(holds, axis=1)]  # the first holder, best-ranked first
    keep = best == patterns.column
    return Patterns(patterns.counts[keep], patterns.column[keep])


class _Model:
    """The integer program of the module docstring: u per pattern, then v per (class, existing
    node) that suit each other, then w per class that serverless capacity takes."""

    def __init__(self, data: PackingInput, patterns: Patterns) -> None:
        self.data = data
        self.patterns = patterns
        self.existing_pairs: IntArray = np.argwhere(data.existing_ok)
        self.serverless: IntArray = np.flatnonzero(np.isfinite(data.serverless_cost))
        self.v0 = len(patterns.column)
        self.w0 = self.v0 + len(self.existing_pairs)
        self.size = self.w0 + len(self.serverless)

    def solve(self, budget: ExactBudget) -> ExactPacking | None:
        """Branch-and-bound on the whole model; if it runs out of time, residual rounding for a
        better packing (see `_residual`). Only the first proves anything."""
        model = self._model()
        solver = _solver(model, budget.seconds * FULL_SHARE, budget.nodes)
        if solver.run() == highspy.HighsStatus.kError:
            return None
        info = solver.getInfo()
        bound = float(info.mip_dual_bound)
        # No bound in time (a busy machine, or a root too slow): zero is a bound, and the
        # relaxation below may still give one.
        bound = max(bound * (1.0 - BOUND_SAFETY_MARGIN), 0.0) if np.isfinite(bound) else 0.0
        optimal = solver.getModelStatus() == highspy.HighsModelStatus.kOptimal
        found = [_solution(solver)] if info.primal_solution_status == highspy.kSolutionStatusFeasible else []
        if not optimal:
            relaxed, residual = self._residual(model, budget.seconds - solver.getRunTime(), budget.nodes)
            bound = max(bound, relaxed)
            found += residual
        if not found:
            return ExactPacking(None, bound, optimal=False, patterns=self.patterns)
        costs = np.asarray(model.col_cost_)
        best = min(found, key=lambda values: float(costs @ values))
        return ExactPacking(self._packing(best), bound, optimal, self.patterns)

    def _residual(self, model: highspy.HighsLp, seconds: float, nodes: int) -> tuple[float, list[IntArray]]:
        """Residual rounding within `seconds`: keep the whole part of the LP optimum's pattern
        counts and solve for the rest exactly. The residual model has few pods left, and on the
        batches branch-and-bound cannot finish in time it usually lands within a percent of the
        optimum (heuristics: ten or more). Also returns the LP optimum, less the safety margin
        (0 if it was not reached): the LP relaxation of the integer program is a lower bound on
        it, often tighter than the dual bound of a branch-and-bound stopped early (one stopped
        before its root LP has none)."""
        relaxation = _solver(model, seconds, nodes)
        columns = np.arange(model.num_col_, dtype=np.int32)
        relaxation.changeColsIntegrality(model.num_col_, columns, np.zeros(model.num_col_, np.uint8))
        relaxation.run()
        if relaxation.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return 0.0, []
        relaxed = max(float(relaxation.getInfo().objective_function_value) * (1.0 - BOUND_SAFETY_MARGIN), 0.0)
        lower = np.floor(np.asarray(relaxation.getSolution().col_value) + 1e-9)
        upper = np.where(self._residual_patterns(lower), np.maximum(model.col_upper_, lower), lower)
        residual = _solver(model, seconds - relaxation.getRunTime(), nodes)
        residual.changeColsBounds(model.num_col_, columns, lower, upper)
        residual.run()
        if residual.getInfo().primal_solution_status != highspy.kSolutionStatusFeasible:
            return relaxed, []
        return relaxed, [_solution(residual)]

    def _residual_patterns(self, lower: FloatArray) -> BoolArray:
        """The variables the residual model may raise: existing nodes and serverless capacity,
        and for each way a node can carry the pods left (a pattern cut down to them), the
        cheapest pattern carrying that; the others would add cost or nothing new."""
        counts, d = self.patterns.counts, self.data
        carried = counts.T @ lower[: self.v0]
        carried += np.bincount(self.existing_pairs[:, 0], lower[self.v0 : self.w0], len(d.class_counts))
        carried += np.bincount(self.serverless, lower[self.w0 :], len(d.class_counts))
        left = np.maximum(d.class_counts - np.rint(carried), 0).astype(np.int64)
        cut = np.minimum(counts, left[None, :])
        useful = np.flatnonzero(cut.any(axis=1))
        free = np.ones(len(lower), bool)
        free[: self.v0] = False
        if len(useful):
            cost = d.column_cost[self.patterns.column[useful]]
            order = useful[np.lexsort((cost,))]
            _, first = np.unique(cut[order], axis=0, return_index=True)
            free[order[first]] = True
        return free

    def _model(self) -> highspy.HighsLp:
        d, counts = self.data, self.patterns.counts
        costs = np.concatenate(
            [
                d.column_cost[self.patterns.column],
                np.zeros(len(self.existing_pairs)),
                d.serverless_cost[self.serverless],
            ]
        )
        # No optimum uses a pattern more often than it takes to cover one of its classes alone.
        with np.errstate(divide="ignore"):
            copies = np.where(counts > 0, np.ceil(d.class_counts[None, :] / np.maximum(counts, 1)), 0).max(
                axis=1
            )
        upper = np.concatenate(
            [
                copies,
                d.class_counts[self.existing_pairs[:, 0]] if len(self.existing_pairs) else np.zeros(0),
                d.class_counts[self.serverless],
            ]
        ).astype(np.float64)
        rows, cols, values = [], [], []
        pattern, pod_class = np.nonzero(counts)
        rows.append(pod_class)
        cols.append(pattern)
        values.append(counts[pattern, pod_class].astype(np.float64))
        pairs = np.arange(len(self.existing_pairs))
        if len(pairs):
            rows.append(self.existing_pairs[:, 0])
            cols.append(self.v0 + pairs)
            values.append(np.ones(len(pairs)))
        rows.append(self.serverless)
        cols.append(self.w0 + np.arange(len(self.serverless)))
        values.append(np.ones(len(self.serverless)))
        classes = len(d.class_counts)
        row_lower = [d.class_counts.astype(np.float64)]
        row_upper = [np.full(classes, np.inf)]
        if len(pairs):
            # Capacity rows of the existing nodes, one per node and resource.
            dims = d.class_vectors.shape[1]
            requested = d.class_vectors[self.existing_pairs[:, 0]].astype(np.float64)
            row_of = classes + self.existing_pairs[:, 1:2] * dims + np.arange(dims)[None, :]
            nonzero = requested > 0
            rows.append(row_of[nonzero])
            cols.append(np.broadcast_to((self.v0 + pairs)[:, None], requested.shape)[nonzero])
            values.append(requested[nonzero])
            row_lower.append(np.full(len(d.existing_free) * dims, -np.inf))
            row_upper.append(d.existing_free.astype(np.float64).ravel())
        return _lp(
            costs,
            upper,
            np.concatenate(row_lower),
            np.concatenate(row_upper),
            (np.concatenate(rows), np.concatenate(cols), np.concatenate(values)),
        )

    def _packing(self, values: IntArray) -> PackingResult:
        """The solution as a packing; pods a covering pattern has room for beyond the batch are
        left out, existing nodes and serverless capacity first keeping theirs."""
        d = self.data
        left = d.class_counts.copy()
        existing: list[dict[int, int]] = [{} for _ in range(len(d.existing_free))]
        for i, (pod_class, node_index) in enumerate(self.existing_pairs):
            count = min(int(values[self.v0 + i]), int(left[pod_class]))
            if count:
                existing[int(node_index)][int(pod_class)] = count
                left[pod_class] -= count
        existing = self._first_fit(existing)
        serverless: dict[int, int] = {}
        for i, pod_class in enumerate(self.serverless):
            count = min(int(values[self.w0 + i]), int(left[pod_class]))
            if count:
                serverless[int(pod_class)] = count
                left[pod_class] -= count
        nodes: list[PackedNode] = []
        for index in np.flatnonzero(values[: self.v0] > 0):
            column = int(self.patterns.column[index])
            for _ in range(int(values[index])):
                carried = {}
                for pod_class in np.flatnonzero(self.patterns.counts[index]):
                    count = min(int(self.patterns.counts[index, pod_class]), int(left[pod_class]))
                    if count:
                        carried[int(pod_class)] = count
                        left[pod_class] -= count
                if carried:
                    offering = int(d.column_offering[column])
                    nodes.append(PackedNode(column, [], carried, offering, float(d.column_cost[column])))
        self._onto_existing(nodes, existing)
        for node in nodes:
            node.spare = [
                int(v) for v in d.column_alloc[node.column] - node_load(node.counts, d.class_vectors)
            ]
        return PackingResult([node for node in nodes if node.counts], existing, serverless)

    def _first_fit(self, existing: list[dict[int, int]]) -> list[dict[int, int]]:
        """The same pods on existing nodes placed first fit, in node order and the packer's class
        order, as the heuristics place them. Free room costs nothing, so the optimum does not care where
        they go, but a caller may: consolidation lists the nodes it wants filled first. Keeps the
        solver's placement when first fit cannot place them all."""
        d = self.data
        wanted: dict[int, int] = {}
        for placed in existing:
            for pod_class, count in placed.items():
                wanted[pod_class] = wanted.get(pod_class, 0) + count
        order = [c for c in Packer(d, None).order if c in wanted]
        fitted: list[dict[int, int]] = [{} for _ in existing]
        for index, placed in enumerate(fitted):
            spare = [int(v) for v in d.existing_free[index]]
            for pod_class in order:
                vector = [int(v) for v in d.class_vectors[pod_class]]
                count = (
                    min(wanted[pod_class], how_many_fit(spare, vector))
                    if d.existing_ok[pod_class, index]
                    else 0
                )
                if count > 0:
                    placed[pod_class] = count
                    wanted[pod_class] -= count
                    spare = [free - used * count for free, used in zip(spare, vector, strict=True)]
        return existing if any(wanted.values()) else fitted

    def _onto_existing(self, nodes: list[PackedNode], existing: list[dict[int, int]]) -> None:
        """Move pods from new nodes to room left on existing ones. The room is already paid for,
        so the optimum is indifferent to it, but a pod there starts sooner and a lighter new
        node may be right-sized to a cheaper offering."""
        d = self.data
        for index, placed in enumerate(existing):
            spare = d.existing_free[index] - node_load(placed, d.class_vectors)
            for pod_class in np.flatnonzero(d.existing_ok[:, index]):
                vector = d.class_vectors[pod_class]
                for node in nodes:
                    needed = vector > 0
                    room = int(np.min(spare[needed] // vector[needed])) if needed.any() else 0
                    moved = min(node.counts.get(int(pod_class), 0), room)
                    if moved <= 0:
                        continue
                    node.counts[int(pod_class)] -= moved
                    if not node.counts[int(pod_class)]:
                        del node.counts[int(pod_class)]
                    placed[int(pod_class)] = placed.get(int(pod_class), 0) + moved
                    spare = spare - moved * vector


def _solver(model: highspy.HighsLp, seconds: float, nodes: int) -> _Highs:
    solver = quiet_solver()
    solver.passModel(model)
    solver.setOptionValue("time_limit", max(float(seconds), 1e-3))
    solver.setOptionValue("mip_max_nodes", int(nodes))
    solver.setOptionValue("mip_rel_gap", EXACT_RELATIVE_GAP)
    # Measured on the batches of `bench/planner.py --case small-batches`: presolve costs more
    # than it saves on models of a few rows.
    solver.setOptionValue("presolve", "off")
    return solver


def _solution(solver: _Highs) -> IntArray:
    return np.asarray(np.rint(np.asarray(solver.getSolution().col_value)), dtype=np.int64)


def _lp(
    costs: FloatArray,
    upper: FloatArray,
    row_lower: FloatArray,
    row_upper: FloatArray,
    entries: tuple[IntArray, IntArray, FloatArray],
) -> highspy.HighsLp:
    """An all-integer model in HiGHS's column-wise form from (row, column, value) entries."""
    rows, cols, values = entries
    order = np.lexsort((rows, cols))
    lp = highspy.HighsLp()
    lp.num_col_ = len(costs)
    lp.num_row_ = len(row_lower)
    lp.col_cost_ = costs
    lp.col_lower_ = np.zeros(len(costs))
    lp.col_upper_ = upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=len(costs)))])
    lp.a_matrix_.index_ = rows[order]
    lp.a_matrix_.value_ = values[order]
    lp.a_matrix_.num_col_ = len(costs)
    lp.a_matrix_.num_row_ = len(row_lower)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(costs)
    return lp
