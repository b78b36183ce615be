"""Small columns the knapsack search cannot certify move to the volume model (`Master._generate`):
the LP bound stays below the exact optimum, whatever the searches settle."""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.planner import lp, lp_master
from engines.planner.engine import lp_input
from engines.planner.exact import ExactBudget, solve_exact
from engines.planner.packing import PackingInput, packing_cost

# (cpu millis, memory MiB, pods) and $/h: a node of 16 pods (small: the pattern model) and a big
# one (the volume model), in two zones; pods of class c may use the zones in `zones[c]`.
COLUMNS = [((1600, 3200, 16), 0.05), ((16000, 32000, 110), 0.45)]
GENEROUS = ExactBudget(seconds=60.0, nodes=10**9)


def _input(vectors: list[tuple[int, int]], counts: list[int], zones: list[tuple[bool, bool]]) -> PackingInput:
    columns = [(shape, cost) for shape, cost in COLUMNS for _ in range(2)]  # one of each per zone
    alloc = np.array([[cpu, memory, 0, 0, pods] for (cpu, memory, pods), _ in columns], np.int64)
    cost = np.array([cost for _, cost in columns])
    ok = np.array([[zone[k % 2] for k in range(len(columns))] for zone in zones], bool)
    return PackingInput(
        class_vectors=np.array([[cpu, memory, 0, 0, 1] for cpu, memory in vectors], np.int64),
        class_counts=np.array(counts, np.int64),
        class_signature=np.zeros(len(vectors), np.int64),
        column_offering=np.arange(len(columns)),
        column_alloc=alloc,
        column_cost=cost,
        column_ok=ok,
        serverless_cost=np.full(len(vectors), np.inf),
        existing_free=np.zeros((0, 5), np.int64),
        existing_ok=np.zeros((len(vectors), 0), bool),
        signature_masks=[np.ones(len(columns), bool)],
        offering_alloc=alloc,
        offering_cost=cost,
    )


def _bound_with_searches_cut_short(data: PackingInput) -> tuple[float, int]:
    """The LP bound when every knapsack search stops after one step (none can settle), and how
    many columns moved to the volume model."""
    moved: list[int] = []
    to_volume = lp_master.Master._to_volume

    def spy(master: lp_master.Master, columns: np.ndarray) -> None:
        moved.extend(int(k) for k in columns)
        to_volume(master, columns)

    with (
        mock.patch.object(lp_master, "SEARCH_NODE_LIMIT", 1),
        mock.patch.object(lp_master, "DEFAULT_NODE_LIMIT", 1),
        mock.patch.object(lp_master.Master, "_to_volume", spy),
    ):
        solution = lp.solve(lp_input(data))
    assert solution is not None
    return solution.bound, len(moved)


def _optimum(data: PackingInput) -> float:
    exact = solve_exact(data, GENEROUS)
    assert exact is not None
    assert exact.optimal
    assert exact.result is not None
    return packing_cost(exact.result, data)


def test_a_column_whose_searches_cannot_settle_moves_to_the_volume_model():
    data = _input(
        [(100, 150), (150, 120), (250, 300), (90, 400)],
        [9, 7, 5, 6],
        [(True, False), (False, True), (True, True), (True, True)],
    )
    bound, moved = _bound_with_searches_cut_short(data)
    assert moved >= 1
    assert 0 < bound <= _optimum(data) * (1 + 1e-9)


# A first class of pods the small node holds 16 of (so its column may move), then others.
TINY = st.tuples(st.integers(50, 100), st.integers(64, 200), st.integers(4, 16), st.just((True, True)))
OTHER = st.tuples(
    st.integers(50, 400),
    st.integers(64, 600),
    st.integers(1, 9),
    st.sampled_from([(True, False), (False, True), (True, True)]),
)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(TINY, st.lists(OTHER, min_size=1, max_size=3))
def test_the_bound_never_exceeds_the_exact_optimum_when_columns_move(tiny, others):
    classes = [tiny, *others]
    data = _input(
        [(cpu, memory) for cpu, memory, _, _ in classes],
        [count for _, _, count, _ in classes],
        [zones for *_, zones in classes],
    )
    bound, _ = _bound_with_searches_cut_short(data)  # about a third of these batches move a column
    assert bound <= _optimum(data) * (1 + 1e-9) + 1e-12
