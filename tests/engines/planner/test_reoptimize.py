"""Re-packing a small batch's nodes a few at a time (`engines.planner.reoptimize`): every pod
kept, every node within its column, never dearer, and never below the exact optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.planner.exact import ExactBudget, Patterns, node_patterns, solve_exact
from engines.planner.packing import PackedNode, PackingInput, PackingResult, node_load, packing_cost
from engines.planner.reoptimize import reoptimize

# Columns: (cpu millis, memory MiB, pods) and $/h; a big node costs less than two small ones.
COLUMNS = [((2000, 4096, 8), 0.10), ((4000, 8192, 16), 0.17), ((8000, 16384, 32), 0.30)]
GENEROUS = ExactBudget(seconds=60.0, nodes=10**9)


def _input(
    vectors: list[tuple[int, int]], counts: list[int], ok: list[list[bool]] | None = None
) -> PackingInput:
    classes = len(vectors)
    alloc = np.array([[cpu, memory, 0, 0, pods] for (cpu, memory, pods), _ in COLUMNS], np.int64)
    return PackingInput(
        class_vectors=np.array([[cpu, memory, 0, 0, 1] for cpu, memory in vectors], np.int64),
        class_counts=np.array(counts, np.int64),
        class_signature=np.zeros(classes, np.int64),
        column_offering=np.arange(len(COLUMNS)),
        column_alloc=alloc,
        column_cost=np.array([cost for _, cost in COLUMNS]),
        column_ok=np.array(ok, bool) if ok is not None else np.ones((classes, len(COLUMNS)), bool),
        serverless_cost=np.full(classes, np.inf),
        existing_free=np.zeros((0, 5), np.int64),
        existing_ok=np.zeros((classes, 0), bool),
        signature_masks=[np.ones(len(COLUMNS), bool)],
        offering_alloc=alloc,
        offering_cost=np.array([cost for _, cost in COLUMNS]),
    )


def _one_pod_per_smallest_node(data: PackingInput) -> PackingResult:
    """A valid, wasteful packing: every pod alone on the cheapest column that suits and holds it."""
    nodes = []
    for pod_class, count in enumerate(data.class_counts):
        vector = data.class_vectors[pod_class]
        column = next(
            int(c)
            for c in np.argsort(data.column_cost)
            if data.column_ok[pod_class, c] and np.all(vector <= data.column_alloc[c])
        )
        for _ in range(int(count)):
            spare = [int(v) for v in data.column_alloc[column] - vector]
            nodes.append(PackedNode(column, spare, {pod_class: 1}, column, float(data.column_cost[column])))
    return PackingResult(nodes, [], {})


def _patterns(data: PackingInput) -> Patterns:
    patterns = node_patterns(data)
    assert patterns is not None
    return patterns


def _check(data: PackingInput, result: PackingResult) -> None:
    carried = np.zeros(len(data.class_counts), np.int64)
    for node in result.nodes:
        load = node_load(node.counts, data.class_vectors)
        assert np.all(load <= data.column_alloc[node.column]), "no node over its column's room"
        assert node.cost == data.column_cost[node.column]
        for pod_class, count in node.counts.items():
            assert data.column_ok[pod_class, node.column], "every pod on a column that suits it"
            carried[pod_class] += count
    assert carried.tolist() == data.class_counts.tolist(), "every pod kept, none twice"


def test_three_half_empty_nodes_become_one_cheaper_node():
    data = _input([(1500, 3000)], [3])
    start = _one_pod_per_smallest_node(data)
    assert packing_cost(start, data) == pytest.approx(0.30)
    better = reoptimize(data, _patterns(data), start)
    assert better is not None
    _check(data, better)
    # Two pods share the middle column (0.17) and one stays alone (0.10): 0.27 < 0.30.
    assert packing_cost(better, data) == pytest.approx(0.27)


def test_a_packing_that_cannot_improve_is_left_alone():
    data = _input([(1500, 3000)], [1])
    assert reoptimize(data, _patterns(data), _one_pod_per_smallest_node(data)) is None


def test_pods_stay_off_columns_that_do_not_suit_them():
    # Class 1 may only use the small column: it cannot join class 0 on a bigger node.
    data = _input([(500, 1024), (500, 1024)], [4, 2], ok=[[True, True, True], [True, False, False]])
    better = reoptimize(data, _patterns(data), _one_pod_per_smallest_node(data))
    assert better is not None
    _check(data, better)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([250, 500, 1000, 1500, 3000]),
            st.sampled_from([256, 1024, 2048, 4096, 6144]),
            st.integers(1, 5),
            st.lists(st.booleans(), min_size=3, max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_reoptimized_packings_are_valid_never_dearer_and_never_below_the_optimum(classes):
    suits = [[*ok[:2], True] for *_, ok in classes]  # the big column suits every class
    data = _input([(cpu, memory) for cpu, memory, _, _ in classes], [n for *_, n, _ in classes], suits)
    start = _one_pod_per_smallest_node(data)
    better = reoptimize(data, _patterns(data), start)
    result = better if better is not None else start
    _check(data, result)
    assert packing_cost(result, data) <= packing_cost(start, data) + 1e-12
    if better is not None:
        assert packing_cost(better, data) < packing_cost(start, data)
    optimum = solve_exact(data, GENEROUS)
    assert optimum is not None
    assert optimum.optimal
    assert packing_cost(result, data) >= optimum.bound - 1e-9
