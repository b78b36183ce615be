"""The LP's inputs and outputs, shared by the model builder (`lp_master`), `lp` and the packer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engines.planner.table import BoolArray, FloatArray, IntArray

# Columns where no class fits more pods than this get the pattern model (see `lp`).
SMALL_NODE_PODS = 32
# Rows z_ck <= m_ck y_k are only worth their size when few pods fit a node.
MAX_PODS_FOR_FIT_ROW = 32
# The reported bound stays this far (relatively) below the solver's optimum, for its tolerances.
BOUND_SAFETY_MARGIN = 1e-6


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
    rounded: LpSolution | None = None


def pods_per_node(class_vectors: IntArray, column_alloc: IntArray) -> IntArray:
    """m_ck: how many pods of class c fit on an empty node of column k (0 if none)."""
    # Computed once per distinct request and distinct allocatable, then spread: classes differ
    # mostly in their constraints and columns in their price and zone (a topology-constrained
    # batch on the AWS catalog has 240 classes of 30 requests and 5,600 columns of 300 shapes).
    vectors, vector_of = _distinct_rows(class_vectors)
    allocs, alloc_of = _distinct_rows(column_alloc)
    fit = _distinct_pods_per_node(class_vectors[vectors], column_alloc[allocs])
    return fit[vector_of][:, alloc_of]


def _distinct_rows(array: IntArray | npt.NDArray[np.uint8]) -> tuple[IntArray, IntArray]:
    """The index of one row of each distinct value, and which of them each row is (sorting the
    rows as single keys: far faster than `np.unique(axis=0)`)."""
    keys = np.ascontiguousarray(array)
    rows = keys.view(np.dtype((np.void, keys.dtype.itemsize * max(keys.shape[1], 1)))).ravel()
    _, first, group = np.unique(rows, return_index=True, return_inverse=True)
    return first, group.ravel()


def _distinct_pods_per_node(class_vectors: IntArray, column_alloc: IntArray) -> IntArray:
    # One resource at a time, only for the classes that request it.
    fit = np.full((len(class_vectors), len(column_alloc)), np.iinfo(np.int64).max, np.int64)
    for resource in range(class_vectors.shape[1]):
        requested = class_vectors[:, resource]
        rows = np.flatnonzero(requested > 0)
        if len(rows):
            fit[rows] = np.minimum(fit[rows], column_alloc[None, :, resource] // requested[rows, None])
    return fit


def cheapest_alike(alloc: IntArray, ok: BoolArray, cost: FloatArray) -> IntArray:
    """Of every group of columns with the same allocatable suiting the same classes, the cheapest
    (the first among equals), in column order."""
    if not len(cost):
        return np.zeros(0, np.int64)
    # Each column as its allocatable's bytes and the bits of the classes it suits.
    as_bytes = np.ascontiguousarray(alloc, dtype=np.int64).view(np.uint8).reshape(len(cost), -1)
    _, group = _distinct_rows(np.hstack([as_bytes, np.packbits(ok, axis=0).T]))
    ranked = np.lexsort((np.arange(len(cost)), cost, group))
    first = np.ones(len(ranked), bool)
    first[1:] = group[ranked][1:] != group[ranked][:-1]
    return np.sort(ranked[first])


@dataclass(frozen=True, slots=True)
class IntegerRelaxation:
    """Branch-and-bound on the volume model with whole nodes and whole pods.

    Every column uses the volume model, node counts y are integers (pod counts stay
    fractional), and only node-for-node dominance prunes columns (per-dollar dominance needs
    fractional nodes).
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
