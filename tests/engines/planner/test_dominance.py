"""Column dominance: screening with a few likely dominators drops exactly the columns that
comparing every pair drops, on the real AWS catalog."""

from __future__ import annotations

import numpy as np
import pytest

from engines.planner import Catalog, PlannerPolicy, Snapshot
from engines.planner.lp import _DominanceRelation, dominated_columns, small_columns
from engines.planner.lp_model import MAX_PODS_FOR_FIT_ROW, pods_per_node
from engines.planner.table import build_offering_table

MIB = 1


def _inputs(catalog: Catalog, classes: list[tuple[int, int, int]]) -> tuple[np.ndarray, ...]:
    """What `lp.solve` hands to `dominated_columns`: one column per instance type (its cheapest
    offering), every class allowed everywhere it fits."""
    table = build_offering_table(catalog, PlannerPolicy(), Snapshot(pods=(), region=catalog.region))
    order = np.lexsort((table.effective, table.type_of))
    first = np.ones(len(order), bool)
    first[1:] = table.type_of[order][1:] != table.type_of[order][:-1]
    columns = order[first]
    alloc = table.alloc[columns]
    cost = table.effective[columns]
    vectors = np.array([(cpu, memory * MIB, gpu, 0, 1) for cpu, memory, gpu in classes], dtype=np.int64)
    fit_counts = pods_per_node(vectors, alloc)
    ok = fit_counts > 0
    used = np.flatnonzero(vectors.max(axis=0, initial=0) > 0)
    return alloc, cost, ok, fit_counts, small_columns(fit_counts, ok), used


@pytest.mark.parametrize(
    "classes",
    [
        [(250, 256, 0), (500, 512, 0), (750, 768, 0), (1000, 256, 0)],
        [(4000, 16384, 0)],
        [(100, 64, 0), (8000, 2048, 0), (2000, 65536, 0)],
        [(4000, 30000, 1000), (8000, 60000, 2000), (500, 1024, 0)],
    ],
    ids=["small-mix", "one-big", "cpu-and-memory-heavy", "gpus"],
)
def test_screening_drops_the_same_columns_as_every_pair(
    aws_catalog: Catalog, classes: list[tuple[int, int, int]]
) -> None:
    alloc, cost, ok, fit_counts, small, used = _inputs(aws_catalog, classes)
    assert len(cost) > 200  # big enough that the screening path runs

    screened = dominated_columns(alloc, cost, ok, fit_counts, small, used)
    every_pair = _DominanceRelation(alloc, cost, ok, fit_counts, small, used).dominated_within(
        np.arange(len(cost))
    )

    assert screened.tolist() == every_pair.tolist()
    assert 0 < int((~screened).sum()) < len(cost)  # something is dropped, something kept


def _dominates(
    k: int,
    j: int,
    alloc: np.ndarray,
    cost: np.ndarray,
    ok: np.ndarray,
    fit_counts: np.ndarray,
    small: np.ndarray,
) -> bool:
    """The definition in `dominated_columns`' docstring, one pair at a time."""
    if k == j or not all(ok[c, k] for c in range(ok.shape[0]) if ok[c, j]):
        return False
    per_dollar_k, per_dollar_j = alloc[k] / cost[k], alloc[j] / cost[j]
    if small[k]:
        better = bool((alloc[k] >= alloc[j]).all() and cost[k] <= cost[j])
    else:
        capped = np.where(fit_counts <= MAX_PODS_FOR_FIT_ROW, fit_counts, np.inf)
        better = bool((per_dollar_k >= per_dollar_j).all()) and all(
            capped[c, k] / cost[k] >= capped[c, j] / cost[j] for c in range(ok.shape[0]) if ok[c, j]
        )
    strictly = bool((per_dollar_k > per_dollar_j).any()) or cost[k] < cost[j] or k < j
    return better and strictly


@pytest.mark.parametrize("seed", range(5))
def test_the_relation_is_the_definition_pair_by_pair(seed: int) -> None:
    """Random columns with twins, some small, serving random classes: the bulk relation (bits
    for the classes served, fit counts only where the other tests pass) matches the definition."""
    rng = np.random.default_rng(seed)
    columns, classes = 40, 13
    alloc = rng.integers(1, 4, size=(columns, 3)) * 1000
    alloc[columns // 2 :] = alloc[: columns // 2]  # twins of the same allocatable
    cost = rng.integers(1, 5, size=columns).astype(np.float64)
    ok = rng.random((classes, columns)) < 0.8
    fit_counts = rng.integers(1, 60, size=(classes, columns))
    small = rng.random(columns) < 0.3
    relation = _DominanceRelation(alloc, cost, ok, fit_counts, small, np.arange(3))._relation(
        np.arange(columns), np.arange(columns)
    )

    expected = [
        [_dominates(k, j, alloc, cost, ok, fit_counts, small) for j in range(columns)] for k in range(columns)
    ]
    assert relation.tolist() == expected
    assert 0 < int(relation.sum()) < columns * columns
