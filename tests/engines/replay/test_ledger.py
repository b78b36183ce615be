"""The recorded period as replay pods: counts per workload and interval back into lifetimes."""

from __future__ import annotations

import pytest

from engines.planner import CapacityType, Unschedulable, UnschedulableCode
from engines.replay import ReplayResult
from engines.replay.ledger import (
    LedgerTooLarge,
    RecordedInterval,
    WorkloadInterval,
    pods_from_ledger,
    replayed_figures,
)
from engines.replay.model import CostSeries, MeteredNode

MINUTE = 60.0


def _intervals(count: int, *, unobserved: frozenset[int] = frozenset()) -> list[RecordedInterval]:
    return [RecordedInterval(i * MINUTE, MINUTE, i not in unobserved) for i in range(count)]


def _web(minute: int, pods: float, *, cores: float = 0.5, gib: float = 1.0) -> WorkloadInterval:
    seconds = pods * MINUTE
    return WorkloadInterval(
        minute * MINUTE, MINUTE, "shop", "Deployment/web", seconds, cores * seconds, gib * seconds, 0.0
    )


def test_pods_arrive_when_the_count_grows_and_the_youngest_leave_when_it_shrinks() -> None:
    rows = [_web(0, 1), _web(1, 3), _web(2, 3), _web(3, 2)]
    pods = pods_from_ledger(_intervals(5), rows, end=5 * MINUTE, max_pods=100)
    lifetimes = sorted((pod.arrival, pod.departure) for pod in pods)
    # One pod from 0 to the end; two from minute 1, the younger... both arrived at 1: one leaves at 3
    # (the count drops to 2), and every pod left at minute 4, where the workload has no row.
    assert lifetimes == [(0.0, 4 * MINUTE), (MINUTE, 3 * MINUTE), (MINUTE, 4 * MINUTE)]
    assert {pod.request.requests.cpu_millis for pod in pods} == {500}
    assert {pod.request.requests.memory_mib for pod in pods} == {1024}


def test_an_unobserved_interval_carries_the_pods_on_and_the_period_end_closes_them() -> None:
    rows = [_web(0, 2), _web(2, 2)]  # minute 1 was not observed: no rows, but no departure either
    pods = pods_from_ledger(_intervals(3, unobserved=frozenset({1})), rows, end=3 * MINUTE, max_pods=10)
    assert sorted((pod.arrival, pod.departure) for pod in pods) == [(0.0, 3 * MINUTE)] * 2


def test_a_new_request_shape_is_a_new_pod_and_a_partial_pod_counts_as_one() -> None:
    rows = [_web(0, 0.2), _web(1, 1, cores=1.0)]
    pods = pods_from_ledger(_intervals(2), rows, end=2 * MINUTE, max_pods=10)
    assert [(p.arrival, p.departure, p.request.requests.cpu_millis) for p in pods] == [
        (0.0, MINUTE, 500),
        (MINUTE, 2 * MINUTE, 1000),
    ]


def test_too_many_pods_is_refused_not_truncated() -> None:
    with pytest.raises(LedgerTooLarge):
        pods_from_ledger(_intervals(1), [_web(0, 5)], end=MINUTE, max_pods=4)


def _node(
    name: str, launched: float, released: float, kind: CapacityType = CapacityType.ON_DEMAND
) -> MeteredNode:
    return MeteredNode(
        name, "m5.large", "us-east-1a", kind, 0.1, 0.1, launched, launched, released, released - launched, 1
    )


def test_replayed_figures_count_nodes_not_serverless_and_the_wait_of_pods_never_placed() -> None:
    rows = [_web(0, 2)]
    pods = pods_from_ledger(_intervals(10), rows, end=600.0, max_pods=10)
    result = ReplayResult(
        cost=1.0,
        effective_cost=1.2,
        by_capacity_type={},
        series=CostSeries(0.0, 3600, ()),
        nodes=(_node("a", 0, 300), _node("b", 100, 600), _node("vm", 0, 600, CapacityType.SERVERLESS)),
        unplaced=(Unschedulable(pods[0].uid, UnschedulableCode.NO_MATCHING_OFFERING, "no offering"),),
        pods_run=1,
        start_delay_seconds=30.0,
        plan_calls=1,
    )
    figures = replayed_figures(result, pods, start=0.0, end=600.0)
    assert figures.peak_nodes == 2
    assert figures.node_seconds == 300 + 500
    assert figures.average_nodes == pytest.approx(800 / 600)
    assert figures.pending_pod_seconds == 30.0 + 60.0  # its wait, and the unplaced pod's whole life
