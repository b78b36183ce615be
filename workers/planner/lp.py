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
  valid bound (Farley's bound for column generation).

The reported bound keeps a relative margin of 1e-6 below the solver's optimum to absorb its
floating-point tolerances. With policy limits, limit rows are added and every column uses
the volume model (it relaxes the pattern one, so the bound stays valid). On plans of few nodes
`integer_relaxation` adds whole-node integrality (see `IntegerRelaxation`); the engine reports
the larger of the two bounds, both valid.
"""

from __future__ import annotations

import numpy as np

from workers.planner.lp_master import Master
from workers.planner.lp_model import (
    MAX_PODS_FOR_FIT_ROW,
    SMALL_NODE_PODS,
    IntegerPatterns,
    IntegerRelaxation,
    LimitRows,
    LpInput,
    LpSolution,
    pods_per_node,
)
from workers.planner.table import BoolArray, FloatArray, IntArray

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
    most = np.where(ok, fit_counts, 0).max(axis=0, initial=0)
    return np.asarray((most <= SMALL_NODE_PODS) & ok.any(axis=0), dtype=np.bool_)


def dominated_columns(
    alloc: IntArray, cost: FloatArray, ok: BoolArray, fit_counts: IntArray, small: BoolArray, used: IntArray
) -> BoolArray:
    """Columns another column dominates (see the module docstring).

    Column k dominates j when it serves every class j serves, and either (neither small) gives at
    least as much of every resource and every capped fit count per dollar, or (k small) has at least
    j's resources for no more money; strictly better somewhere, or identical with a lower index (so
    one of two identical columns survives). Dominance is transitive, so "dominated by some other
    column" equals "dominated by some undominated column", and the pairs can be compared in bulk:
    blocks of columns at a time instead of one column per Python iteration.
    """
    resources = alloc[:, used].astype(np.float64)
    per_dollar = resources / cost[:, None]
    capped = np.where(fit_counts <= MAX_PODS_FOR_FIT_ROW, fit_counts, np.inf).T / cost[:, None]
    ok_t = ok.T
    count = len(cost)
    index = np.arange(count)
    dominated = np.zeros(count, bool)
    block = max(1, 2_000_000 // max(1, count * max(ok_t.shape[1], per_dollar.shape[1], 1)))
    for start in range(0, count, block):
        j = index[start : start + block]  # the dominated candidates of this block
        needed = ok_t[j]  # [B, C]
        # [k, B] relations between every column k and each candidate j.
        covers = np.all(ok_t[:, None, :] | ~needed[None, :, :], axis=2)
        dollar_ge = np.all(per_dollar[:, None, :] >= per_dollar[None, j, :], axis=2)
        capped_ge = np.all((capped[:, None, :] >= capped[None, j, :]) | ~needed[None, :, :], axis=2)
        by_dollar = ~small[:, None] & dollar_ge & capped_ge
        by_node = (
            small[:, None]
            & np.all(resources[:, None, :] >= resources[None, j, :], axis=2)
            & (cost[:, None] <= cost[None, j])
        )
        strictly = (
            np.any(per_dollar[:, None, :] > per_dollar[None, j, :], axis=2)
            | (cost[:, None] < cost[None, j])
            | (index[:, None] < j[None, :])
        )
        relation = covers & (by_dollar | by_node) & strictly
        relation[j, np.arange(len(j))] = False  # a column never dominates itself
        dominated[j] = relation.any(axis=0)
    return dominated


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
