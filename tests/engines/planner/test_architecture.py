"""Architecture: a pod that says nothing about `kubernetes.io/arch` gets the policy's default
architectures (amd64 in the product), a pod whose node affinity allows arm64 may get Graviton,
GPU pods get x86 GPU types unless they allow arm64, and without a default any architecture goes."""

from __future__ import annotations

from engines.kube import labels as wk
from engines.planner import Catalog, InstanceRequirements, Operator, PlannerPolicy, Snapshot, plan
from tests.engines.planner.planner_builders import check_plan, pod, requirement, types_of

AMD64 = frozenset({"amd64"})


def _architectures(catalog: Catalog, policy: PlannerPolicy, *pods) -> list[str]:
    snapshot = Snapshot(pods=tuple(pods))
    result = plan(snapshot, policy, catalog)
    check_plan(result, snapshot, policy, catalog)
    assert not result.unschedulable, result.unschedulable
    return [types_of(catalog)[launch.chosen.instance_type].architecture for launch in result.launches]


def test_without_a_default_the_cheapest_type_wins_whatever_its_architecture(aws_catalog) -> None:
    # The finding: plain pods got Graviton nodes, which an amd64-only image cannot run on.
    assert _architectures(aws_catalog, PlannerPolicy(), pod(2000, 4096)) == ["arm64"]


def test_a_pod_that_says_nothing_gets_amd64(aws_catalog) -> None:
    policy = PlannerPolicy(default_architectures=AMD64)
    assert _architectures(aws_catalog, policy, pod(2000, 4096)) == ["amd64"]


def test_a_pod_whose_affinity_allows_arm64_may_get_graviton(aws_catalog) -> None:
    policy = PlannerPolicy(default_architectures=AMD64)
    both = pod(2000, 4096, affinity=[requirement(wk.ARCH, Operator.IN, "amd64", "arm64")])
    assert _architectures(aws_catalog, policy, both) == ["arm64"]
    only_arm = pod(2000, 4096, selector={wk.ARCH: "arm64"})
    assert _architectures(aws_catalog, policy, only_arm) == ["arm64"]


def test_gpu_pods_get_x86_gpu_types_unless_they_allow_arm64(aws_catalog) -> None:
    policy = PlannerPolicy(default_architectures=AMD64)
    (launch,) = plan(Snapshot(pods=(pod(4000, 16384, gpus=1),)), policy, aws_catalog).launches
    chosen = types_of(aws_catalog)[launch.chosen.instance_type]
    assert chosen.architecture == "amd64" and chosen.gpus >= 1
    assert all(types_of(aws_catalog)[o.instance_type].architecture == "amd64" for o in launch.offerings)
    unrestricted = plan(Snapshot(pods=(pod(4000, 16384, gpus=1),)), PlannerPolicy(), aws_catalog)
    assert types_of(aws_catalog)[unrestricted.launches[0].chosen.instance_type].architecture == "arm64"


def test_a_pod_that_insists_on_an_architecture_the_policy_excludes_is_pending_with_the_reason(
    aws_catalog,
) -> None:
    policy = PlannerPolicy(
        instance_requirements=InstanceRequirements(architectures=AMD64), default_architectures=AMD64
    )
    result = plan(Snapshot(pods=(pod(1000, 1024, selector={wk.ARCH: "arm64"}),)), policy, aws_catalog)
    assert not result.launches
    (reason,) = result.unschedulable
    assert "architectures" in reason.reason, reason.reason
