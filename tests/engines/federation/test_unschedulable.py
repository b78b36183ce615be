"""When nothing fits, the reason names what a person can change."""

from __future__ import annotations

import pytest

from engines.federation import (
    ClusterSelector,
    LabelExpression,
    Operator,
    Outcome,
    PlacementPolicy,
    Resources,
    Strategy,
    WorkloadKind,
    schedule,
)
from tests.engines.federation.federation_builders import nodeless_cluster, observe_cluster, shape, workload


def reason(result_policy: PlacementPolicy, clusters: list, replicas: int = 2, **spec: object) -> str:
    result = schedule(workload(replicas, **spec), result_policy, clusters)  # type: ignore[arg-type]
    assert result.outcome is Outcome.UNSCHEDULABLE
    assert dict(result.replicas) == {}
    return result.decision.reason


def test_selector_matching_nothing_lists_the_values_clusters_have_instead() -> None:
    clusters = [observe_cluster(f"s{n}", env="staging") for n in range(3)] + [observe_cluster("lab")]
    policy = PlacementPolicy(Strategy.CHEAPEST, selector=ClusterSelector.equals(env="prod"))
    assert reason(policy, clusters) == (
        "cheapest: no cluster matches selector env=prod: 3 clusters have env=staging, 1 cluster has no env label"
    )


def test_selector_terms_that_only_fail_together_name_the_narrowing() -> None:
    clusters = [
        observe_cluster("prod-eu", env="prod", region="eu-west-1"),
        observe_cluster("stage-us", env="staging", region="us-east-1"),
    ]
    policy = PlacementPolicy(
        Strategy.CHEAPEST, selector=ClusterSelector.equals(env="prod", region="us-east-1")
    )
    assert reason(policy, clusters) == (
        "cheapest: no cluster matches selector env=prod, region=us-east-1: "
        "1 cluster has region=eu-west-1 (of the 1 cluster matching env=prod)"
    )


def test_matching_clusters_that_cannot_run_it_say_why_each_one_cannot() -> None:
    clusters = [
        observe_cluster("prod-a", env="prod", reachable=False),
        observe_cluster("prod-b", env="prod", healthy=False),
        observe_cluster("prod-c", env="prod", kinds=frozenset({WorkloadKind.DEPLOYMENT})),
    ]
    policy = PlacementPolicy(Strategy.MOST_CAPACITY, selector=ClusterSelector.equals(env="prod"))
    assert reason(policy, clusters, kind=WorkloadKind.JOB) == (
        "most_capacity: 3 clusters match env=prod but none can run a job: prod-a unreachable, prod-b unhealthy, "
        "prod-c does not support the workload kind"
    )


def test_no_room_for_one_replica_names_the_scarce_resource_per_cluster() -> None:
    clusters = [
        observe_cluster("cpu-only", gpus=0),
        nodeless_cluster("no-gpu-shapes", shapes=(shape("m", 8, 32, 0.4),)),
    ]
    text = reason(PlacementPolicy(Strategy.CHEAPEST), clusters, gpus=1)
    assert text == (
        "cheapest: no eligible cluster has room for one replica (1 CPU, 1 GiB, 1 GPU): "
        "cpu-only: short of GPU (0 free); no-gpu-shapes: no node shape fits one replica "
        "(largest: 8 CPU, 32 GiB)"
    )


def test_pinned_to_clusters_that_cannot_take_it_names_each_problem() -> None:
    clusters = [observe_cluster("a", reachable=False), observe_cluster("b")]
    text = reason(PlacementPolicy(Strategy.PINNED, pinned=("a", "ghost")), clusters)
    assert text == "pinned: pinned clusters cannot take it: a unreachable; ghost is not a member cluster"


def test_duplicate_with_no_cluster_big_enough_lists_the_room_there_is() -> None:
    clusters = [observe_cluster("a", cores=3), observe_cluster("b", cores=2)]
    text = reason(PlacementPolicy(Strategy.DUPLICATE), clusters, replicas=5)
    assert text == "duplicate: no eligible cluster has room for all 5 replicas: a: 3, b: 2"


def test_gt_lt_selectors_explain_missing_labels() -> None:
    clusters = [observe_cluster("old", generation="5"), observe_cluster("unlabelled")]
    selector = ClusterSelector((LabelExpression("generation", Operator.GT, ("6",)),))
    assert reason(PlacementPolicy(Strategy.CHEAPEST, selector=selector), clusters) == (
        "cheapest: no cluster matches selector generation>6: 1 cluster has generation=5, "
        "1 cluster has no generation label"
    )


def test_no_members_at_all() -> None:
    assert reason(PlacementPolicy(Strategy.CHEAPEST), []) == "cheapest: no member clusters are connected"


@pytest.mark.parametrize(
    ("resources", "text"),
    [
        (Resources(250, 512), "250m CPU, 512 MiB"),
        (Resources(95250, 1536), "95.25 CPU, 1.5 GiB"),
        (Resources(893690, 11630731, 8), "893.69 CPU, 11,358.1 GiB, 8 GPU"),
    ],
)
def test_amounts_read_as_people_write_them(resources, text) -> None:
    assert resources.describe() == text
