"""Column dominance: screening with a few likely dominators drops exactly the columns that
comparing every pair drops, on the real AWS catalog."""

from __future__ import annotations

import numpy as np
import pytest

from engines.planner import Catalog, PlannerPolicy, Snapshot
from engines.planner.lp import _DominanceRelation, dominated_columns, small_columns
from engines.planner.lp_model import pods_per_node
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
