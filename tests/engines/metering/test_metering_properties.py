"""Invariants of metering, for any nodes and pods: every dollar of node cost is either charged to a pod
or idle, no node's pods cost more than it, prorating is additive over time, pools hold their demand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.kube.capacity import CapacityType
from engines.metering import (
    Interval,
    NodeSample,
    PodSample,
    PoolCandidate,
    PoolDemand,
    Quantities,
    cheapest_pool,
    meter_interval,
    split_node_price,
)
from engines.metering.pools import pareto_candidates

T0 = 1_700_000_000.0
offsets = st.one_of(st.none(), st.floats(min_value=-30, max_value=90, allow_nan=False))
# Kubernetes quantities bottom out at a millicore and a byte, so no resource is subnormally small
amounts = st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=64))
quantities = st.builds(Quantities, amounts, amounts, st.sampled_from([0.0, 0.0, 1.0, 2.0]))


@st.composite
def clusters(draw):
    node_count = draw(st.integers(min_value=1, max_value=4))
    nodes = []
    for index in range(node_count):
        start, stop = draw(offsets), draw(offsets)
        nodes.append(
            NodeSample(
                name=f"n{index}",
                instance_type="t",
                capacity_type=draw(st.sampled_from([CapacityType.ON_DEMAND, CapacityType.SPOT])),
                zone="z",
                price_per_hour=draw(st.one_of(st.none(), st.floats(min_value=0.001, max_value=40))),
                on_demand_price_per_hour=draw(st.one_of(st.none(), st.floats(min_value=0.001, max_value=40))),
                capacity=draw(quantities),
                allocatable=draw(quantities),
                started_at=None if start is None else T0 + start,
                stopped_at=None if stop is None else T0 + stop,
            )
        )
    pods = []
    for index in range(draw(st.integers(min_value=0, max_value=8))):
        start, finish = draw(offsets), draw(offsets)
        pods.append(
            PodSample(
                namespace=draw(st.sampled_from(["a", "b"])),
                name=f"p{index}",
                workload=draw(st.sampled_from(["w1", "w2"])),
                node_name=f"n{draw(st.integers(min_value=0, max_value=node_count))}",
                requests=draw(quantities),
                usage=draw(st.one_of(st.none(), quantities)),
                started_at=None if start is None else T0 + start,
                finished_at=None if finish is None else T0 + finish,
                serverless_price_per_hour=draw(st.one_of(st.none(), st.floats(min_value=0, max_value=5))),
            )
        )
    return nodes, pods


@settings(max_examples=300, deadline=None)
@given(clusters())
def test_node_cost_is_exactly_pod_charges_plus_idle_and_no_node_is_overcharged(cluster) -> None:
    nodes, pods = cluster
    usage = meter_interval(Interval(T0, T0 + 60), nodes, pods)
    charged = sum(row.cost for row in usage.allocations)
    assert charged == pytest.approx(usage.node_cost, rel=1e-9, abs=1e-12)
    for node in usage.nodes:
        assert node.allocated_cost <= node.cost * (1 + 1e-9) + 1e-15
    assert all(row.cost >= -1e-15 and row.on_demand_cost >= -1e-15 for row in usage.allocations)


@settings(max_examples=200, deadline=None)
@given(clusters(), st.floats(min_value=1, max_value=59))
def test_metering_two_halves_costs_the_same_as_metering_the_whole(cluster, cut) -> None:
    nodes, pods = cluster
    whole = meter_interval(Interval(T0, T0 + 60), nodes, pods)
    first = meter_interval(Interval(T0, T0 + cut), nodes, pods)
    second = meter_interval(Interval(T0 + cut, T0 + 60), nodes, pods)
    assert first.node_cost + second.node_cost == pytest.approx(whole.node_cost, rel=1e-9, abs=1e-12)
    assert first.on_demand_cost + second.on_demand_cost == pytest.approx(
        whole.on_demand_cost, rel=1e-9, abs=1e-12
    )
    both = first.resources.requested + second.resources.requested
    assert both.cpu == pytest.approx(whole.resources.requested.cpu, rel=1e-9, abs=1e-9)


@given(st.floats(min_value=0.0, max_value=100), quantities)
def test_rates_split_from_a_price_add_back_up_to_it(price, capacity) -> None:
    rates = split_node_price(price, capacity)
    has_capacity = capacity.cpu > 0 or capacity.memory_gib > 0 or capacity.gpus > 0
    expected = price if has_capacity and price > 0 else 0.0
    assert rates.hourly_cost(capacity) == pytest.approx(expected, rel=1e-9, abs=1e-12)


candidates = st.lists(
    st.builds(
        PoolCandidate,
        st.text(alphabet="abcdefgh", min_size=1, max_size=4),
        st.floats(min_value=0.01, max_value=10),
        st.builds(
            Quantities,
            st.floats(min_value=0.5, max_value=96),
            st.floats(min_value=0.5, max_value=768),
            st.sampled_from([0.0, 0.0, 1.0, 4.0, 8.0]),
        ),
        st.integers(min_value=4, max_value=250),
    ),
    min_size=1,
    max_size=12,
)
demands = st.builds(
    PoolDemand,
    st.floats(min_value=0, max_value=500),
    st.floats(min_value=0, max_value=4000),
    st.sampled_from([0.0, 0.0, 2.0, 7.5]),
    st.floats(min_value=0.1, max_value=3000),
    st.floats(min_value=0, max_value=8),
    st.floats(min_value=0, max_value=64),
    st.sampled_from([0.0, 1.0]),
)


@settings(max_examples=300, deadline=None)
@given(demands, candidates)
def test_the_pool_holds_its_demand_and_dropping_dominated_types_never_changes_its_cost(
    demand, options
) -> None:
    pool = cheapest_pool(demand, options)
    pruned = cheapest_pool(demand, pareto_candidates(options))
    if pool is None:
        assert pruned is None
        return
    assert pruned is not None and pruned.cost_per_hour == pytest.approx(pool.cost_per_hour)
    chosen = next(
        c
        for c in options
        if c.holds(demand)
        and c.instance_type == pool.instance_type
        and math.isclose(c.price_per_hour, pool.price_per_hour)
        and c.nodes_for(demand) == pool.nodes
    )
    assert pool.nodes * chosen.allocatable.cpu >= demand.cpu * (1 - 1e-9)
    assert pool.nodes * chosen.allocatable.memory_gib >= demand.memory_gib * (1 - 1e-9)
    assert pool.nodes * chosen.max_pods >= demand.pods * (1 - 1e-9)
    assert all(
        pool.cost_per_hour <= c.nodes_for(demand) * c.price_per_hour + 1e-9
        for c in options
        if c.holds(demand)
    )
