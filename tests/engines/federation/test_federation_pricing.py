"""Prices: cheapest packing on a nodeless cluster, per-resource rates on an observe cluster."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.federation import Fleet, NodelessPricing, NodeShape, ObservePricing, Resources
from engines.federation.pricing import CostModel, PackingCost
from tests.engines.federation.federation_builders import nodeless_cluster, observe_cluster, shape


def brute_force_cost(shapes: list[tuple[float, int]], replicas: int) -> float:
    """Try every node count up to what covers ``replicas`` alone: the oracle for small cases."""
    usable = [(price, per_node) for price, per_node in shapes if per_node > 0]
    if replicas == 0:
        return 0.0
    if not usable:
        return math.inf
    ranges = [range(-(-replicas // per_node) + 1) for _, per_node in usable]
    best = math.inf
    for counts in itertools.product(*ranges):
        if sum(count * per_node for count, (_, per_node) in zip(counts, usable, strict=True)) >= replicas:
            best = min(best, sum(count * price for count, (price, _) in zip(counts, usable, strict=True)))
    return best


node_shapes = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=16),  # cores
        st.integers(min_value=1, max_value=64),  # GiB
        st.integers(min_value=1, max_value=400).map(lambda cents: cents / 100),  # $/hour
        st.integers(min_value=1, max_value=12),  # max pods
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=100, deadline=None)
@given(
    node_shapes,
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=0, max_value=16),
)
def test_packing_cost_is_the_cheapest_of_all_node_combinations(
    shapes: list[tuple[int, int, float, int]], cores: int, memory_gib: int, replicas: int
) -> None:
    node_list = tuple(
        shape(f"s{i}", c, m, price, max_pods=pods) for i, (c, m, price, pods) in enumerate(shapes)
    )
    request = Resources(cores * 1000, memory_gib * 1024)
    packing = PackingCost(NodelessPricing(node_list), request)
    oracle = brute_force_cost(
        [(node.hourly_price, node.replicas_per_node(request)) for node in node_list], replicas
    )
    assert packing.cost(replicas) == pytest.approx(oracle)


def test_large_counts_use_the_best_node_beyond_the_bound() -> None:
    pricing = NodelessPricing((shape("small", 2, 8, 0.10), shape("big", 8, 32, 0.36)))
    packing = PackingCost(pricing, Resources(1000, 1024))
    # big holds 8 for 0.36 (0.045 each), small holds 2 for 0.10: 1000 replicas = 125 big nodes.
    assert packing.cost(1000) == pytest.approx(125 * 0.36)
    assert packing.cost(1001) == pytest.approx(125 * 0.36 + 0.10)


def test_a_replica_no_shape_can_hold_cannot_be_priced() -> None:
    packing = PackingCost(NodelessPricing((shape("cpu-only", 8, 32, 0.4),)), Resources(1000, 1024, gpu=1))
    assert not packing.fits
    assert packing.cost(1) == math.inf
    assert packing.cost(0) == 0.0


def test_observe_price_is_requests_times_node_rates() -> None:
    pricing = ObservePricing(cpu_core_hour=0.04, memory_gib_hour=0.005, gpu_hour=2.0)
    assert pricing.replica_hourly(Resources(500, 2048, 1)) == pytest.approx(0.5 * 0.04 + 2 * 0.005 + 2.0)


def test_node_shape_holds_replicas_up_to_its_scarcest_resource() -> None:
    node = NodeShape("g", Resources(16_000, 65_536, 4), 3.0, max_pods=110)
    assert node.replicas_per_node(Resources(2000, 8192, 1)) == 4
    assert node.replicas_per_node(Resources(100, 128)) == 110


@pytest.mark.parametrize("table_limit", [CostModel.TABLE_LIMIT, 4])
def test_vectorised_prices_match_one_cluster_at_a_time(
    monkeypatch: pytest.MonkeyPatch, table_limit: int
) -> None:
    monkeypatch.setattr(CostModel, "TABLE_LIMIT", table_limit)
    fleet = Fleet(
        [
            nodeless_cluster("a"),
            nodeless_cluster("b", shapes=(shape("x", 4, 16, 0.2), shape("y", 32, 128, 1.5))),
            observe_cluster("c"),
        ]
    )
    request = Resources(1500, 3000)
    model = fleet.cost_model(request)
    indices = np.arange(3, dtype=np.int64)
    nodeless = np.asarray([0, 1], dtype=np.int64)
    groups = fleet.group_of[indices[nodeless]]
    for count in (0, 1, 5, 17, 40):
        counts = np.full(3, count, dtype=np.int64)
        one_by_one = [model.cost(index, count) for index in range(3)]
        assert model.costs(indices, counts, nodeless, groups, count).tolist() == pytest.approx(one_by_one)
        if count:
            per_replica = model.per_replica(0, indices, counts, nodeless, groups, count)
            assert (per_replica * count).tolist() == pytest.approx(one_by_one)
