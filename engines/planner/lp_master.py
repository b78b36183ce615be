"""The LP in HiGHS: model building, column generation, diving and branch-and-bound.

See `engines.planner.lp` for the model and why its optimum is a lower bound.
"""

from __future__ import annotations

from dataclasses import replace

import highspy
import numpy as np

from engines.planner.highs import limit_branch_and_bound, quiet_solver
from engines.planner.knapsack import DEFAULT_NODE_LIMIT, best_pattern, quick_bounds
from engines.planner.lp_model import (
    BOUND_SAFETY_MARGIN,
    MAX_PODS_FOR_FIT_ROW,
    IntegerPatterns,
    IntegerRelaxation,
    LpInput,
    LpSolution,
)
from engines.planner.table import BoolArray, FloatArray, IntArray

MAX_PRICING_ROUNDS = 30
# A non-final pricing round stops after finding this many improving patterns.
PATTERNS_PER_ROUND = 12
# Diving (see `Master._dive`) for plans made of small nodes only, capped in steps and rounds.
MAX_DIVE_STEPS = 200
DIVE_PRICING_ROUNDS = 3
# Pricing rounds that only look for good patterns (diving, and column generation until its
# last round) search less than the rounds that certify the bound.
SEARCH_NODE_LIMIT = 1000
# Branch-and-bound runs are capped in nodes so they stay deterministic and bounded in time.
MIP_MAX_NODES = 200
# Both runs stop once the best solution is this close to the dual bound (relative).
MIP_RELATIVE_GAP = 0.002
# Price-and-branch (`Master._restricted_mip`) is tried on plans of at most this many nodes.
RESTRICTED_MIP_MAX_NODES = 2000
# Nor on models of more pod classes than this (inter-pod rules pin classes to zones, tripling them):
# its branch-and-bound then takes seconds for a guide the rounding guides match within a percent.
RESTRICTED_MIP_MAX_CLASSES = 120
REDUCED_COST_TOLERANCE = 1e-9
# A small column whose knapsack search ends this far (relatively) above both its best pattern and
# its price is uncertified; if it holds at least VOLUME_FIT pods of some class it moves to the
# volume model (see `_generate`). Where a node holds a handful (GPU nodes), the pattern model is
# what makes the LP tight, and its searches settle.
CERTIFY_GAP = 1e-3
VOLUME_FIT = 16


class Master:
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
        self.many_fit = self._many_fit(small)
        self.rows: list[IntArray] = []
        self.cols: list[IntArray] = []
        self.values: list[FloatArray] = []
        self.row_upper: list[float] = []
        self.row_lower: list[float] = []
        self.patterns: list[tuple[int, dict[int, int]]] = []
        # Each small column's last knapsack surrogate weights, tried first in the next round.
        self.surrogates: dict[int, FloatArray] = {}
        # Small columns the last pricing round could not certify (see `_price`).
        self.uncertified: list[int] = []
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
        self.build()
        theta = self._generate(self.data.class_counts, MAX_PRICING_ROUNDS, certify=True)
        if theta is None:
            return None
        solution = self._solution(theta)
        if self.patterns and solution.nodes.sum() < 1e-9:
            return replace(solution, integer=self._dive())
        if (
            solution.nodes.sum() + solution.pattern_nodes.sum() <= RESTRICTED_MIP_MAX_NODES
            and len(self.data.class_counts) <= RESTRICTED_MIP_MAX_CLASSES
        ):
            return replace(solution, rounded=self._restricted_mip(solution))
        return solution

    def _restricted_mip(self, solution: LpSolution) -> LpSolution | None:
        """Price-and-branch: the same LP with whole nodes and patterns, over the columns and
        patterns generated so far. Not a bound (patterns are restricted), but a packing guide
        that rounds big fractional nodes up or down as a whole, where rounding down strands pods."""
        self._run_with_whole_nodes()
        if self.solver.getInfo().primal_solution_status != highspy.kSolutionStatusFeasible:
            return None
        integer = self._solution(1.0)
        return replace(
            integer,
            bound=solution.bound,
            duals=solution.duals,
            nodes=np.rint(integer.nodes),
            placement=np.rint(integer.placement),
            existing=np.rint(integer.existing),
            serverless=np.rint(integer.serverless),
            pattern_nodes=np.rint(integer.pattern_nodes),
        )

    def _generate(self, caps: IntArray, rounds: int, *, certify: bool) -> float | None:
        """Column generation: solve, price, add improving patterns, until none is left or the
        rounds run out. Returns theta (see the module docstring), None if infeasible.

        A small column whose knapsack the search cannot settle (dozens of classes of small pods
        on a node of a few dozen: the search runs out of steps far above its best pattern) holds
        the bound at theta > 1 (topology-10k: 2 %), or yields a pattern worth a hundredth of a
        percent per round for dozens of rounds. When certifying, such columns holding pods by
        the dozen move to the volume model (`_to_volume`): its dual constraints bound the value
        of every pattern of the column, so it needs no pricing, and a relaxation mixing both
        models is still a relaxation (the volume model only loses the integrality of pods on one
        node, which matters little where a node holds a dozen)."""
        theta = 1.0
        for round_number in range(rounds + 1):
            if not self._run():
                return None
            if not len(self.small):
                break
            last = round_number == rounds
            # A round that finds nothing has priced every column, so its theta certifies the bound.
            # Rounds only look for improving patterns with the small search budget; the round whose
            # theta is returned prices again with the full one, for a tighter certificate (and
            # goes on if that finds a pattern the small searches missed).
            theta, new_patterns = self._price(
                caps,
                final=last and certify,
                node_limit=DEFAULT_NODE_LIMIT if last and certify else SEARCH_NODE_LIMIT,
            )
            if certify and not new_patterns and not last:
                theta, new_patterns = self._price(caps, final=True, node_limit=DEFAULT_NODE_LIMIT)
            if certify and not last and self.uncertified:
                self._to_volume(np.array(self.uncertified, dtype=np.int64))
                continue
            if not new_patterns or last:
                break
            self._add_patterns(new_patterns)
        return theta

    def _many_fit(self, small: IntArray) -> BoolArray:
        """Whether some class fits a node of the small column by the dozen (`VOLUME_FIT`)."""
        most = np.where(self.ok[:, small], self.fit_counts[:, small], 0).max(axis=0, initial=0)
        return np.asarray(most >= VOLUME_FIT, dtype=np.bool_)

    def _to_volume(self, columns: IntArray) -> None:
        """Rebuild the model with these small columns in the volume model, keeping the patterns
        generated for the others."""
        moved = {int(k) for k in columns}
        kept = [(k, counts) for k, counts in self.patterns if k not in moved]
        self.large = np.union1d(self.large, columns).astype(np.int64)
        self.small = np.setdiff1d(self.small, columns).astype(np.int64)
        self.many_fit = self._many_fit(self.small)
        self.rows, self.cols, self.values = [], [], []
        self.row_upper, self.row_lower = [], []
        self.patterns, self.uncertified = [], []
        self.solver = quiet_solver()
        self.build()
        seeded = {(k, tuple(sorted(counts.items()))) for k, counts in self.patterns}
        self._add_patterns([p for p in kept if (p[0], tuple(sorted(p[1].items()))) not in seeded])

    def branch_and_bound(self) -> IntegerRelaxation | None:
        self._run_with_whole_nodes()
        info = self.solver.getInfo()
        bound = float(info.mip_dual_bound)
        if not np.isfinite(bound) or info.primal_solution_status != highspy.kSolutionStatusFeasible:
            return None
        solution = self._solution(1.0)
        return IntegerRelaxation(
            max(bound * (1.0 - BOUND_SAFETY_MARGIN), 0.0),
            np.rint(solution.nodes),
            np.rint(solution.placement),
            np.rint(solution.existing),
            np.rint(solution.serverless),
        )

    def _run_with_whole_nodes(self) -> None:
        """Branch-and-bound with integer node counts (y and pattern counts); pod counts stay
        fractional, which keeps the search small and, for a bound, only relaxes it further."""
        whole = np.concatenate(
            [np.arange(len(self.large)), np.arange(self.n_base, self.n_base + len(self.patterns))]
        ).astype(np.int32)
        if len(whole):
            self.solver.changeColsIntegrality(
                len(whole), whole, np.full(len(whole), highspy.HighsVarType.kInteger, dtype=np.uint8)
            )
        limit_branch_and_bound(self.solver, MIP_MAX_NODES, MIP_RELATIVE_GAP)
        self.solver.run()

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
    def build(self) -> None:
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

    def _price(
        self, caps: IntArray, *, final: bool, node_limit: int
    ) -> tuple[float, list[tuple[int, dict[int, int]]]]:
        """One pricing round: improving patterns and theta (>= 1).

        A non-final round stops once it has found `PATTERNS_PER_ROUND` patterns; a round that
        prices every column yields a theta that certifies the bound.
        """
        d = self.data
        self.uncertified = []
        duals = np.maximum(np.asarray(self.solver.getSolution().row_dual)[: len(d.class_counts)], 0.0)
        theta = 1.0
        found: list[tuple[int, dict[int, int]]] = []
        # The knapsack's first test, for every small column at once: most columns stop there.
        usable = self.ok[:, self.small] & ((duals > 0) & (caps > 0))[:, None]
        quick = quick_bounds(duals, d.class_vectors, d.column_alloc[self.small], usable)
        for position, (k, quick_bound) in enumerate(zip(self.small, quick, strict=True)):
            price = float(d.column_cost[k])
            if quick_bound <= price * (1.0 + REDUCED_COST_TOLERANCE):
                theta = max(theta, float(quick_bound) / price)
                continue
            pattern = best_pattern(
                duals,
                d.class_vectors,
                d.column_alloc[k],
                np.flatnonzero(self.ok[:, k]),
                caps,
                threshold=price * (1.0 + REDUCED_COST_TOLERANCE),
                node_limit=node_limit,
                hint=self.surrogates.get(int(k)),
            )
            if pattern.surrogate is not None:
                self.surrogates[int(k)] = pattern.surrogate
            theta = max(theta, pattern.upper_bound / price)
            if (
                pattern.upper_bound > max(pattern.value, price) * (1.0 + CERTIFY_GAP)
                and self.many_fit[position]
            ):
                self.uncertified.append(int(k))
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
