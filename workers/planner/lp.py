"""The LP relaxation: a valid lower bound on the cheapest plan, and a guide for packing.

Model (solved with HiGHS). Pods are grouped into classes c (same requests, same constraint
signature; n_c pods each). Offerings are grouped into columns k (same instance type, same
compatibility with every class; the cheapest offering of the group, at price p_k, stands for
it). Large columns get a *volume* model, small ones (no class fits more than
`SMALL_NODE_PODS` pods) a *pattern* model, where the integrality of tiny nodes matters:

    minimize    sum_k p_k y_k + sum_P p_k(P) u_P + sum_c s_c w_c
    subject to  sum_k z_ck + sum_P x_cP u_P + sum_e v_ce + w_c  >= n_c   for every class c
                sum_c r_cd z_ck  <= a_kd y_k     every large column k and resource d
                z_ck             <= m_ck y_k     where at most m_ck (<= 32) pods of c fit a node of k
                sum_c r_cd v_ce  <= f_ed         every existing node e and resource d
                all variables >= 0; z_ck, v_ce only where class c suits the node and fits alone

y_k counts nodes of large column k (allocatable a_k); z_ck, v_ce count pods of class c on them
and on the free capacity f_e of existing node e; w_c counts pods sent to serverless capacity at
s_c each; u_P counts nodes of a small column filled with pattern P (x_cP pods of each class,
a multiset that fits one node).

Why it is a lower bound: any plan that places the same pods gives a feasible point of this LP
with the same cost. On a large column, y_k is its number of nodes and z counts their pods
(capacity rows hold node by node, so they hold summed); on a small column each node's pods
form a pattern P, so u_P counts those nodes. A minimum over this larger, fractional set can
only be lower. Three reductions keep the LP small without raising its optimum:

- offerings are merged only when identical for every class (the cheapest one stands for all);
- a column is dropped when another dominates it: a large column with at least as much of every
  resource and of every m_ck *per dollar* (any use of the dropped one moves to it at the same
  cost), or a small column with at least as much of every resource at no higher price (node
  for node);
- pattern columns are generated on demand: after each solve, a knapsack (`knapsack`) finds
  for every small column the pattern of greatest dual value; it joins the LP when that value
  exceeds the node's price. When no such pattern is left the LP optimum is the optimum over
  all patterns. If the rounds run out first, the dual prices divided by theta (the largest
  value-to-price ratio found, >= 1) are feasible for every pattern, so optimum / theta is
  still a valid bound (Farley's bound for column generation).

The reported bound keeps a relative margin of 1e-6 below the solver's optimum to absorb its
floating-point tolerances. With policy limits, limit rows are added and every column uses
the volume model (it relaxes the pattern one, so the bound stays valid).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import highspy
import numpy as np

from workers.planner.highs import quiet_solver
from workers.planner.knapsack import best_pattern
from workers.planner.table import BoolArray, FloatArray, IntArray

MAX_PODS_FOR_FIT_ROW = 32
SMALL_NODE_PODS = 32
MAX_PRICING_ROUNDS = 30
# Diving (see `_Master._dive`) for plans made of small nodes only, capped in steps and rounds.
MAX_DIVE_STEPS = 200
DIVE_PRICING_ROUNDS = 3
# Branch-and-bound on the integer relaxation (see `integer_relaxation`), capped in nodes so it
# stays deterministic and bounded in time.
MIP_MAX_NODES = 2000
MIP_MAX_VARIABLES = 60_000
PATTERNS_PER_ROUND = 12
BOUND_SAFETY_MARGIN = 1e-6
REDUCED_COST_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class LimitRows:
    """Budget rows, added when the plan had to stop at a policy limit."""

    column_vcpu: FloatArray
    column_billed: FloatArray
    serverless_billed: FloatArray
    max_nodes: float
    max_vcpu: float
    max_billed: float


@dataclass(frozen=True, slots=True)
class LpInput:
    class_vectors: IntArray
    class_counts: IntArray
    column_alloc: IntArray
    column_cost: FloatArray
    column_ok: BoolArray
    serverless_cost: FloatArray
    existing_free: IntArray
    existing_ok: BoolArray
    limits: LimitRows | None = None


@dataclass(frozen=True, slots=True)
class IntegerPatterns:
    """Whole nodes fixed by diving: how many copies of each generated pattern to launch."""

    pattern_nodes: IntArray


@dataclass(frozen=True, slots=True)
class LpSolution:
    bound: float
    nodes: FloatArray
    placement: FloatArray
    existing: FloatArray
    serverless: FloatArray
    duals: FloatArray
    patterns: list[tuple[int, dict[int, int]]]
    pattern_nodes: FloatArray
    integer: IntegerPatterns | None = None


def pods_per_node(class_vectors: IntArray, column_alloc: IntArray) -> IntArray:
    """m_ck: how many pods of class c fit on an empty node of column k (0 if none)."""
    requested = class_vectors[:, None, :]
    ratio = np.where(
        requested > 0, column_alloc[None, :, :] // np.maximum(requested, 1), np.iinfo(np.int64).max
    )
    return np.asarray(ratio.min(axis=2), dtype=np.int64)


def small_columns(fit_counts: IntArray, ok: BoolArray) -> BoolArray:
    most = np.where(ok, fit_counts, 0).max(axis=0, initial=0)
    return np.asarray((most <= SMALL_NODE_PODS) & ok.any(axis=0), dtype=np.bool_)


def dominated_columns(
    alloc: IntArray, cost: FloatArray, ok: BoolArray, fit_counts: IntArray, small: BoolArray, used: IntArray
) -> BoolArray:
    """Columns another column dominates (see the module docstring)."""
    resources = alloc[:, used].astype(np.float64)
    per_dollar = resources / cost[:, None]
    capped = np.where(fit_counts <= MAX_PODS_FOR_FIT_ROW, fit_counts, np.inf).T / cost[:, None]
    ok_t = ok.T
    dominated = np.zeros(len(cost), bool)
    for j in np.argsort(-per_dollar.sum(axis=1), kind="stable"):
        others = np.flatnonzero(~dominated)
        others = others[others != j]
        needed = ok_t[j]
        covers = np.all(ok_t[others][:, needed], axis=1)
        by_dollar = (
            ~small[others]
            & np.all(per_dollar[others] >= per_dollar[j], axis=1)
            & np.all(capped[others][:, needed] >= capped[j][needed], axis=1)
        )
        by_node = (
            small[others] & np.all(resources[others] >= resources[j], axis=1) & (cost[others] <= cost[j])
        )
        # Identical columns must not eliminate each other: the lower index survives a tie.
        strictly = (
            np.any(per_dollar[others] > per_dollar[j], axis=1) | (cost[others] < cost[j]) | (others < j)
        )
        dominated[j] = bool(np.any(covers & (by_dollar | by_node) & strictly))
    return dominated


def solve(data: LpInput) -> LpSolution | None:
    """Solve the relaxation; None when it is infeasible (only possible under limit rows)."""
    fit_counts = pods_per_node(data.class_vectors, data.column_alloc)
    ok = data.column_ok & (fit_counts > 0)
    used = np.flatnonzero(data.class_vectors.max(axis=0, initial=0) > 0)
    small = small_columns(fit_counts, ok) if data.limits is None else np.zeros(len(data.column_cost), bool)
    kept = ~dominated_columns(data.column_alloc, data.column_cost, ok, fit_counts, small, used)
    master = _Master(data, ok, fit_counts, used, np.flatnonzero(kept & ~small), np.flatnonzero(kept & small))
    return master.solve()


@dataclass(frozen=True, slots=True)
class IntegerRelaxation:
    """Branch-and-bound on the volume model with whole nodes and whole pods.

    Every column uses the volume model, node counts y, pod counts z, v and w are integers, and
    only node-for-node dominance prunes columns (per-dollar dominance needs fractional nodes).
    It is still a relaxation of packing - capacity is checked per column, summed over its
    nodes - so its optimum, and the solver's dual bound on it, are valid lower bounds; on
    small plans they are much tighter than the LP, which may buy 0.3 of an 8-GPU node. Its
    best solution is also a packing guide (`as_solution`).
    """

    bound: float
    nodes: FloatArray
    placement: FloatArray
    existing: FloatArray
    serverless: FloatArray

    def as_solution(self, duals: FloatArray) -> LpSolution:
        return LpSolution(
            self.bound, self.nodes, self.placement, self.existing, self.serverless, duals, [], np.zeros(0)
        )


def integer_relaxation(data: LpInput) -> IntegerRelaxation | None:
    """Solve the integer relaxation (see `IntegerRelaxation`); None when it is too big to try
    or the solver found no bound."""
    fit_counts = pods_per_node(data.class_vectors, data.column_alloc)
    ok = data.column_ok & (fit_counts > 0)
    used = np.flatnonzero(data.class_vectors.max(axis=0, initial=0) > 0)
    node_for_node = np.ones(len(data.column_cost), bool)
    kept = np.flatnonzero(
        ~dominated_columns(data.column_alloc, data.column_cost, ok, fit_counts, node_for_node, used)
    )
    if int(ok[:, kept].sum()) + len(kept) > MIP_MAX_VARIABLES:
        return None
    master = _Master(data, ok, fit_counts, used, kept, np.zeros(0, np.int64))
    master._build()
    return master.branch_and_bound()


class _Master:
    """The LP in HiGHS, built once in coordinate form, then grown by pattern columns."""

    def __init__(
        self,
        data: LpInput,
        ok: BoolArray,
        fit_counts: IntArray,
        used: IntArray,
        large: IntArray,
        small: IntArray,
    ) -> None:
        self.data, self.ok, self.fit_counts, self.used = data, ok, fit_counts, used
        self.large, self.small = large, small
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.values: list[FloatArray] = []
        self.row_upper: list[float] = []
        self.row_lower: list[float] = []
        self.patterns: list[tuple[int, dict[int, int]]] = []
        self.solver = quiet_solver()

    def _add_rows(self, lower: list[float], upper: list[float]) -> int:
        first = len(self.row_upper)
        self.row_lower.extend(lower)
        self.row_upper.extend(upper)
        return first

    def _entries(self, rows: IntArray, cols: IntArray, values: FloatArray) -> None:
        self.rows.append(np.asarray(rows, dtype=np.int64))
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.values.append(np.asarray(values, dtype=np.float64))

    def solve(self) -> LpSolution | None:
        self._build()
        theta = self._generate(self.data.class_counts, MAX_PRICING_ROUNDS, certify=True)
        if theta is None:
            return None
        solution = self._solution(theta)
        if self.patterns and solution.nodes.sum() < 1e-9:
            return replace(solution, integer=self._dive())
        return solution

    def _generate(self, caps: IntArray, rounds: int, *, certify: bool) -> float | None:
        """Column generation: solve, price, add improving patterns, until none is left or the
        rounds run out. Returns theta (see the module docstring), None if infeasible."""
        theta = 1.0
        for round_number in range(rounds + 1):
            if not self._run():
                return None
            if not len(self.small):
                break
            last = round_number == rounds
            # A round that finds nothing has priced every column, so its theta certifies the bound.
            theta, new_patterns = self._price(caps, final=last and certify)
            if not new_patterns or last:
                break
            self._add_patterns(new_patterns)
        return theta

    def branch_and_bound(self) -> IntegerRelaxation | None:
        n_vars = self.n_base
        columns = np.arange(n_vars, dtype=np.int32)
        self.solver.changeColsIntegrality(
            n_vars, columns, np.full(n_vars, highspy.HighsVarType.kInteger, dtype=np.uint8)
        )
        self.solver.setOptionValue("mip_max_nodes", MIP_MAX_NODES)
        self.solver.run()
        info = self.solver.getInfo()
        bound = float(info.mip_dual_bound)
        if not np.isfinite(bound) or info.primal_solution_status != 2:  # 2: a feasible solution exists
            return None
        solution = self._solution(1.0)
        return IntegerRelaxation(
            max(bound * (1.0 - BOUND_SAFETY_MARGIN), 0.0),
            np.rint(solution.nodes),
            np.rint(solution.placement),
            np.rint(solution.existing),
            np.rint(solution.serverless),
        )

    def _dive(self) -> IntegerPatterns:
        """Price-and-dive: fix whole nodes one LP at a time.

        1. Take the pattern the LP uses most and fix floor(u) copies of it (at least one).
        2. Lower the demand of its classes by what it carries, re-solve with column generation
           (patterns now priced against what is left), and repeat.
        3. Stop when nothing is left or the LP stops using patterns; the packer places the rest.
        Fixing one node at a time lets later nodes adapt, which rounding a single LP cannot.
        """
        residual = self.data.class_counts.copy()
        fixed: dict[int, int] = {}
        for _ in range(MAX_DIVE_STEPS):
            usage = np.asarray(self.solver.getSolution().col_value)[self.n_base :]
            if not len(usage) or usage.max() < 1e-6:
                break
            chosen = int(np.argmax(usage))
            copies = max(int(np.floor(usage[chosen] + 1e-9)), 1)
            fixed[chosen] = fixed.get(chosen, 0) + copies
            for pod_class, count in self.patterns[chosen][1].items():
                residual[pod_class] = max(residual[pod_class] - count * copies, 0)
            if not residual.any():
                break
            for pod_class, demand in enumerate(residual):
                self.solver.changeRowBounds(pod_class, float(demand), np.inf)
            if self._generate(residual, DIVE_PRICING_ROUNDS, certify=False) is None:
                break
        nodes = np.zeros(len(self.patterns), np.int64)
        for index, copies in fixed.items():
            nodes[index] = copies
        return IntegerPatterns(nodes)

    # Building ------------------------------------------------------------------------------
    def _build(self) -> None:
        d, ok, large, used = self.data, self.ok, self.large, self.used
        counts = d.class_counts.astype(np.float64)
        classes, n_y = len(counts), len(large)
        self._add_rows(list(counts), [np.inf] * classes)
        self.pair_class, pair_col = np.nonzero(ok[:, large])
        n_z = len(self.pair_class)
        self.ex_class, self.ex_node = np.nonzero(d.existing_ok)
        n_x = len(self.ex_class)
        self.w_class = np.flatnonzero(np.isfinite(d.serverless_cost))
        z0, x0, w0 = n_y, n_y + n_z, n_y + n_z + len(self.ex_class)
        self.z0, self.x0, self.w0 = z0, x0, w0
        self.pair_col = pair_col
        self.n_base = w0 + len(self.w_class)

        self._entries(self.pair_class, z0 + np.arange(n_z), np.ones(n_z))
        self._entries(self.ex_class, x0 + np.arange(n_x), np.ones(n_x))
        self._entries(self.w_class, w0 + np.arange(len(self.w_class)), np.ones(len(self.w_class)))

        # Capacity rows of new nodes, scaled by the allocatable so coefficients stay near 1.
        dims = len(used)
        alloc = d.column_alloc[large][:, used].astype(np.float64)
        first = self._add_rows([-np.inf] * (n_y * dims), [0.0] * (n_y * dims))
        row_of = first + np.arange(n_y)[:, None] * dims + np.arange(dims)[None, :]
        self._entries(row_of.ravel(), np.repeat(np.arange(n_y), dims), -np.ones(n_y * dims))
        requested = d.class_vectors[self.pair_class][:, used].astype(np.float64)
        share = np.divide(requested, alloc[pair_col], out=np.zeros_like(requested), where=alloc[pair_col] > 0)
        nonzero = share > 0
        z_index = np.broadcast_to((z0 + np.arange(n_z))[:, None], share.shape)
        self._entries(row_of[pair_col][nonzero], z_index[nonzero], share[nonzero])

        # Fit rows z_ck <= m_ck y_k where few pods fit and the count is tighter than volume.
        m = self.fit_counts[self.pair_class, large[pair_col]].astype(np.float64)
        with np.errstate(divide="ignore"):
            volume_fit = np.min(np.where(share > 0, 1.0 / np.where(share > 0, share, 1.0), np.inf), axis=1)
        tight = np.flatnonzero((m <= MAX_PODS_FOR_FIT_ROW) & (m < volume_fit - 1e-9))
        first = self._add_rows([-np.inf] * len(tight), [0.0] * len(tight))
        self._entries(first + np.arange(len(tight)), z0 + tight, np.ones(len(tight)))
        self._entries(first + np.arange(len(tight)), pair_col[tight], -m[tight])

        if n_x:
            nodes = len(d.existing_free)
            free = d.existing_free[:, used].astype(np.float64)
            first = self._add_rows([-np.inf] * (nodes * dims), [1.0] * (nodes * dims))
            ex_row = first + np.arange(nodes)[:, None] * dims + np.arange(dims)[None, :]
            wanted = d.class_vectors[self.ex_class][:, used].astype(np.float64)
            ex_share = np.divide(wanted, free[self.ex_node], out=np.zeros_like(wanted), where=wanted > 0)
            nz = ex_share > 0
            x_index = np.broadcast_to((x0 + np.arange(n_x))[:, None], ex_share.shape)
            self._entries(ex_row[self.ex_node][nz], x_index[nz], ex_share[nz])

        if d.limits is not None:
            limits = d.limits
            first = self._add_rows([-np.inf] * 3, [limits.max_nodes, limits.max_vcpu, limits.max_billed])
            self._entries(np.full(n_y, first), np.arange(n_y), np.ones(n_y))
            self._entries(np.full(n_y, first + 1), np.arange(n_y), limits.column_vcpu[large])
            self._entries(np.full(n_y, first + 2), np.arange(n_y), limits.column_billed[large])
            w = len(self.w_class)
            self._entries(np.full(w, first + 2), w0 + np.arange(w), limits.serverless_billed[self.w_class])

        costs = np.concatenate([d.column_cost[large], np.zeros(n_z + n_x), d.serverless_cost[self.w_class]])
        self._pass_model(costs)
        seeds = [
            (int(k), {int(c): int(min(self.fit_counts[c, k], d.class_counts[c]))})
            for k in self.small
            for c in np.flatnonzero(ok[:, k])
        ]
        self._add_patterns(seeds)

    def _pass_model(self, costs: FloatArray) -> None:
        n_vars = len(costs)
        rows = np.concatenate(self.rows)
        cols = np.concatenate(self.cols)
        values = np.concatenate(self.values)
        order = np.lexsort((rows, cols))
        starts = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n_vars))])
        lp = highspy.HighsLp()
        lp.num_col_ = n_vars
        lp.num_row_ = len(self.row_upper)
        lp.col_cost_ = costs
        lp.col_lower_ = np.zeros(n_vars)
        lp.col_upper_ = np.full(n_vars, np.inf)
        lp.row_lower_ = np.array(self.row_lower)
        lp.row_upper_ = np.array(self.row_upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = starts
        lp.a_matrix_.index_ = rows[order]
        lp.a_matrix_.value_ = values[order]
        lp.a_matrix_.num_col_ = n_vars
        lp.a_matrix_.num_row_ = len(self.row_upper)
        self.solver.passModel(lp)

    def _add_patterns(self, patterns: list[tuple[int, dict[int, int]]]) -> None:
        if not patterns:
            return
        starts: list[int] = []
        indices: list[int] = []
        values: list[float] = []
        for _, counts in patterns:
            starts.append(len(indices))
            for pod_class, count in sorted(counts.items()):
                indices.append(pod_class)
                values.append(float(count))
        costs = np.array([self.data.column_cost[k] for k, _ in patterns])
        self.solver.addCols(
            len(patterns),
            costs,
            np.zeros(len(patterns)),
            np.full(len(patterns), np.inf),
            len(indices),
            np.array(starts, dtype=np.int32),
            np.array(indices, dtype=np.int32),
            np.array(values),
        )
        self.patterns.extend(patterns)

    # Solving -------------------------------------------------------------------------------
    def _run(self) -> bool:
        self.solver.run()
        return bool(self.solver.getModelStatus() == highspy.HighsModelStatus.kOptimal)

    def _price(self, caps: IntArray, *, final: bool) -> tuple[float, list[tuple[int, dict[int, int]]]]:
        """One pricing round: improving patterns and theta (>= 1, meaningful when `final`).

        Columns are priced most promising first; a non-final round stops once it has found
        `PATTERNS_PER_ROUND` patterns, since only the final round must certify every column.
        """
        d = self.data
        duals = np.maximum(np.asarray(self.solver.getSolution().row_dual)[: len(d.class_counts)], 0.0)
        theta = 1.0
        found: list[tuple[int, dict[int, int]]] = []
        for k in self.small:
            price = float(d.column_cost[k])
            pattern = best_pattern(
                duals,
                d.class_vectors,
                d.column_alloc[k],
                np.flatnonzero(self.ok[:, k]),
                caps,
                threshold=price * (1.0 + REDUCED_COST_TOLERANCE),
            )
            theta = max(theta, pattern.upper_bound / price)
            if pattern.counts:
                found.append((int(k), pattern.counts))
                if not final and len(found) >= PATTERNS_PER_ROUND:
                    break
        return theta, found

    def _solution(self, theta: float) -> LpSolution:
        d = self.data
        values = np.asarray(self.solver.getSolution().col_value)
        objective = float(self.solver.getInfo().objective_function_value)
        classes, columns = d.column_ok.shape
        nodes = np.zeros(columns)
        nodes[self.large] = values[: len(self.large)]
        placement = np.zeros((classes, columns))
        placement[self.pair_class, self.large[self.pair_col]] = values[self.z0 : self.x0]
        existing = np.zeros(d.existing_ok.shape)
        existing[self.ex_class, self.ex_node] = values[self.x0 : self.w0]
        serverless = np.zeros(classes)
        serverless[self.w_class] = values[self.w0 : self.n_base]
        duals = np.maximum(np.asarray(self.solver.getSolution().row_dual)[:classes], 0.0)
        bound = max(objective / theta * (1.0 - BOUND_SAFETY_MARGIN), 0.0)
        return LpSolution(
            bound, nodes, placement, existing, serverless, duals, self.patterns, values[self.n_base :].copy()
        )
