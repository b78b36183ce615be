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
  all patterns. If the rounds run out first, or a knapsack search is cut short (its LP bound
  then stands in for the best value), the dual prices divided by theta (the largest certified
  value-to-price ratio, >= 1) are feasible for every pattern, so optimum / theta is still a
  valid bound (Farley's bound for column generation). A small column holding pods by the
  dozen whose knapsack the search cannot settle moves to the volume model instead (see
  `Master._generate`): any mix of the two models per column is still a relaxation.

The reported bound keeps a relative margin of 1e-6 below the solver's optimum to absorb its
floating-point tolerances. With policy limits, limit rows are added and every column uses
the volume model (it relaxes the pattern one, so the bound stays valid). On plans of few nodes
`integer_relaxation` adds whole-node integrality (see `IntegerRelaxation`); the engine reports
the larger of the two bounds, both valid.
"""

from __future__ import annotations

import numpy as np

from engines.planner.lp_master import Master
from engines.planner.lp_model import (
    MAX_PODS_FOR_FIT_ROW,
    SMALL_NODE_PODS,
    IntegerPatterns,
    IntegerRelaxation,
    LimitRows,
    LpInput,
    LpSolution,
    cheapest_alike,
    pods_per_node,
)
from engines.planner.table import BoolArray, FloatArray, IntArray

__all__ = [
    "IntegerPatterns",
    "IntegerRelaxation",
    "LimitRows",
    "LpInput",
    "LpSolution",
    "dominated_columns",
    "integer_relaxation",
    "pods_per_node",
    "small_columns",
    "solve",
]
# The integer relaxation is only tried below this many variables.
MIP_MAX_VARIABLES = 60_000


def small_columns(fit_counts: IntArray, ok: BoolArray) -> BoolArray:
    """Columns some class suits where no class suiting them fits more than `SMALL_NODE_PODS`."""
    return np.asarray(~np.any(ok & (fit_counts > SMALL_NODE_PODS), axis=0) & ok.any(axis=0), dtype=np.bool_)


# Columns screened first as likely dominators, and the block size of the sweep that follows
# (see `dominated_columns`).
_SCREEN_COLUMNS = 8
_SWEEP_BLOCK = 64


def dominated_columns(
    alloc: IntArray, cost: FloatArray, ok: BoolArray, fit_counts: IntArray, small: BoolArray, used: IntArray
) -> BoolArray:
    """Columns another column dominates (see the module docstring).

    Column k dominates j when it serves every class j serves, and either (neither small) gives at
    least as much of every resource and every capped fit count per dollar, or (k small) has at least
    j's resources for no more money; strictly better somewhere, or identical with a lower index (so
    one of two identical columns survives).

    Comparing every pair costs n^2 (a thousand AWS columns: tens of milliseconds per plan) while a
    handful survive. So a few likely dominators (the best per dollar, the cheapest small ones) screen
    every column first; the columns they leave are swept best per dollar first, each block of them
    compared with itself and the survivors so far. A dominator has at least as much of every
    resource per dollar (both ways of dominating imply it), so it is swept no later than what it
    dominates (blocks never split equal scores). Dominance is transitive, so a column dominated
    by a dropped one is dominated by a survivor too: the result is the same as comparing every
    pair, and without transitivity it could only keep more columns (never drop one that is not
    dominated), which leaves the LP and its bound valid.
    """
    # A column with a cheaper twin (the same allocatable suiting the same classes; among equal
    # prices, an earlier one) is dominated by it either way: only the others are compared.
    first = cheapest_alike(alloc, ok, cost)
    if len(first) < len(cost):
        dominated = np.ones(len(cost), bool)
        dominated[first] = dominated_columns(
            alloc[first], cost[first], ok[:, first], fit_counts[:, first], small[first], used
        )
        return dominated
    relation = _DominanceRelation(alloc, cost, ok, fit_counts, small, used)
    count = len(cost)
    if count <= 2 * _SCREEN_COLUMNS:
        return relation.dominated_within(np.arange(count))
    screeners = relation.likely_dominators(_SCREEN_COLUMNS)
    dominated = relation.dominated_by(screeners, np.arange(count))
    left = np.flatnonzero(~dominated)
    score = relation.score[left]
    left = left[np.argsort(-score, kind="stable")]
    score = relation.score[left]
    survivors = np.zeros(0, np.int64)
    start = 0
    while start < len(left):
        end = min(start + _SWEEP_BLOCK, len(left))
        while end < len(left) and score[end] == score[end - 1]:
            end += 1
        block = left[start:end]
        hit = relation.dominated_by(np.concatenate([survivors, block]), block)
        dominated[block] = hit
        survivors = np.concatenate([survivors, block[~hit]])
        start = end
    return dominated


class _DominanceRelation:
    """Which columns dominate which, evaluated in blocks (pairs in bulk, not one per Python step)."""

    def __init__(
        self,
        alloc: IntArray,
        cost: FloatArray,
        ok: BoolArray,
        fit_counts: IntArray,
        small: BoolArray,
        used: IntArray,
    ) -> None:
        self.resources = alloc[:, used].astype(np.float64)
        self.per_dollar = self.resources / cost[:, None]
        self.capped = np.where(fit_counts <= MAX_PODS_FOR_FIT_ROW, fit_counts, np.inf).T / cost[:, None]
        self.ok_t = ok.T
        self.ok_bits = np.packbits(self.ok_t, axis=1)
        self.cost = cost
        self.small = small
        # Resources per dollar, each scaled to its best and summed: a dominator scores at least
        # as high as what it dominates.
        scale = np.maximum(self.per_dollar.max(axis=0, initial=0.0), 1e-12)
        self.score = (self.per_dollar / scale).sum(axis=1)

    def likely_dominators(self, count: int) -> IntArray:
        """The best columns per dollar (see `score`), the cheapest small ones, and the best for
        each resource per dollar."""
        best = np.argsort(-self.score, kind="stable")[:count]
        small = np.flatnonzero(self.small)
        cheapest_small = small[np.argsort(self.cost[small], kind="stable")[:count]]
        per_resource = self.per_dollar.argmax(axis=0) if len(self.cost) else np.zeros(0, np.int64)
        return np.unique(np.concatenate([best, cheapest_small, per_resource]).astype(np.int64))

    def dominated_by(self, dominators: IntArray, candidates: IntArray) -> BoolArray:
        """For each candidate, whether one of `dominators` (never itself) dominates it."""
        dominated = np.zeros(len(candidates), bool)
        width = max(self.ok_t.shape[1], self.per_dollar.shape[1], 1)
        block = max(1, 2_000_000 // max(1, len(dominators) * width))
        for start in range(0, len(candidates), block):
            dominated[start : start + block] = self._relation(
                dominators, candidates[start : start + block]
            ).any(axis=0)
        return dominated

    def dominated_within(self, columns: IntArray) -> BoolArray:
        return self.dominated_by(columns, columns)

    def _relation(self, k: IntArray, j: IntArray) -> BoolArray:
        """[len(k), len(j)]: whether column k[a] dominates column j[b]."""
        # Each side's rows taken once: [K, 1, ...] against [1, B, ...]. Which classes each column
        # serves is compared as bits (padding bits pass); the capped fit counts per dollar, one
        # per class, only for the pairs every other test leaves.
        k_dollar, j_dollar = self.per_dollar[k][:, None, :], self.per_dollar[j][None, :, :]
        k_cost, j_cost = self.cost[k][:, None], self.cost[j][None, :]
        k_small = self.small[k][:, None]
        covers = np.all((self.ok_bits[k][:, None, :] | ~self.ok_bits[j][None, :, :]) == 0xFF, axis=2)
        dollar_ge = np.all(k_dollar >= j_dollar, axis=2)
        by_node = (
            k_small
            & np.all(self.resources[k][:, None, :] >= self.resources[j][None, :, :], axis=2)
            & (k_cost <= j_cost)
        )
        strictly = np.any(k_dollar > j_dollar, axis=2) | (k_cost < j_cost) | (k[:, None] < j[None, :])
        base = covers & strictly & (k[:, None] != j[None, :])
        a, b = np.nonzero(base & ~by_node & ~k_small & dollar_ge)
        capped_ge = np.all((self.capped[k[a]] >= self.capped[j[b]]) | ~self.ok_t[j[b]], axis=1)
        relation = base & by_node
        relation[a[capped_ge], b[capped_ge]] = True
        return np.asarray(relation, dtype=np.bool_)


def solve(data: LpInput) -> LpSolution | None:
    """Solve the relaxation; None when it is infeasible (only possible under limit rows)."""
    fit_counts = pods_per_node(data.class_vectors, data.column_alloc)
    ok = data.column_ok & (fit_counts > 0)
    used = np.flatnonzero(data.class_vectors.max(axis=0, initial=0) > 0)
    small = small_columns(fit_counts, ok) if data.limits is None else np.zeros(len(data.column_cost), bool)
    kept = ~dominated_columns(data.column_alloc, data.column_cost, ok, fit_counts, small, used)
    master = Master(data, ok, fit_counts, used, np.flatnonzero(kept & ~small), np.flatnonzero(kept & small))
    return master.solve()


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
    master = Master(data, ok, fit_counts, used, kept, np.zeros(0, np.int64))
    master.build()
    return master.branch_and_bound()
