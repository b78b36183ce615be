"""The launch decision on the rules that depend on a node's instance type: how many volumes a node in
flight can still attach (its type's EBS count less the volumes of the pods already planned onto it),
and which DaemonSets a new node of a type will run (one only for arm64 costs nothing on amd64)."""

from __future__ import annotations

from typing import Any

from engines.kube.labels import ARCH
from engines.planner import PlannerPolicy
from engines.planner.policy import InstanceRequirements
from tests.workers.provisioning.provisioning_builders import inputs, node_json, planned, pod_json, record
from workers.provisioning.launch import (
    attach_limits,
    new_node_overhead,
    plan_launches,
    pods_to_plan,
    type_overheads,
)
from workers.provisioning.records import Lifecycle


def _with_claims(manifest: dict[str, Any], *claims: str) -> dict[str, Any]:
    manifest["spec"]["volumes"] = [
        {"name": f"v{i}", "persistentVolumeClaim": {"claimName": claim}} for i, claim in enumerate(claims)
    ]
    return manifest


def _selecting(manifest: dict[str, Any], **selector: str) -> dict[str, Any]:
    manifest["spec"]["nodeSelector"] = dict(selector)
    return manifest


def test_the_catalog_carries_each_types_ebs_attach_count(aws_catalog) -> None:
    limits = attach_limits(inputs(catalog=aws_catalog))
    # Nitro: 28 shared slots less the primary interface and the root volume (less an NVMe disk on
    # c5d); a dedicated EBS limit on 7th-generation Intel (32, less the root volume); Xen: 39 less root.
    assert limits["m5.large"] == 26 and limits["c5d.large"] == 25
    assert limits["m7i.large"] == 31 and limits["m4.large"] == 38


def test_a_node_in_flight_takes_no_more_volumes_than_its_type_attaches(aws_catalog) -> None:
    # m5.xlarge attaches 26; 25 are planned onto it already (one pod per claim).
    earlier = [_with_claims(pod_json(f"db-{i}", cpu="10m", memory="16Mi"), f"d-{i}") for i in range(25)]
    flying = record(
        "r1",
        Lifecycle.PENDING,
        instance_type="m5.xlarge",
        node_name="",
        planned_pods=tuple(planned(p) for p in earlier),
    )
    one = _with_claims(pod_json("one", cpu="10m", memory="16Mi"), "e-0")
    two = _with_claims(pod_json("two", cpu="10m", memory="16Mi"), "e-1", "e-2")
    plain = pod_json("plain", cpu="10m", memory="16Mi")
    state = inputs(pods=[*earlier, one, two, plain], records=(flying,), catalog=aws_catalog)
    decided = plan_launches(state, pods_to_plan(state, frozenset()))
    joined = {p.name for join in decided.joins for p in join.planned}
    launched = {p.name for launch in decided.launches for p in launch.planned}
    # Three more volumes than the one slot left: the volume pods get new capacity, the plain pod joins.
    assert joined == {"plain"} and launched == {"one", "two"}
    # With room for all of them, the node in flight takes them.
    roomy_flying = record(
        "r1",
        Lifecycle.PENDING,
        instance_type="m5.xlarge",
        node_name="",
        planned_pods=tuple(planned(p) for p in earlier[:20]),
    )
    roomy = inputs(pods=[*earlier[:20], one, two, plain], records=(roomy_flying,), catalog=aws_catalog)
    decided = plan_launches(roomy, pods_to_plan(roomy, frozenset()))
    assert not decided.launches and {p.name for join in decided.joins for p in join.planned} == {
        "one",
        "two",
        "plain",
    }


def test_a_daemonset_only_for_arm64_adds_its_overhead_to_arm64_types_only(aws_catalog) -> None:
    arm = node_json("arm-1", cpu="4", memory="8Gi", labels={ARCH: "arm64"})
    agent = _selecting(
        pod_json("agent", cpu="1500m", memory="64Mi", node="arm-1", daemonset="ds-arm"), **{ARCH: "arm64"}
    )
    everywhere = pod_json("proxy", cpu="100m", memory="64Mi", node="arm-1", daemonset="ds-all")
    state = inputs(pods=[agent, everywhere], nodes=[arm], catalog=aws_catalog)
    # The overhead for any new node is an upper bound: both DaemonSets.
    assert new_node_overhead(state).cpu_millis == 1600
    by_type = type_overheads(state)
    assert by_type["m5.large"].cpu_millis == 100 and "m6g.large" not in by_type
    # A pod asking 1.7 CPU fits an amd64 2-vCPU node (which runs only the proxy), not an arm64 one.
    policy = PlannerPolicy(instance_requirements=InstanceRequirements(min_vcpu=2, max_vcpu=2))
    big = pod_json("big", cpu="1700m", memory="1Gi")
    with_big = inputs(pods=[agent, everywhere, big], nodes=[arm], catalog=aws_catalog, policy=policy)
    decided = plan_launches(with_big, pods_to_plan(with_big, frozenset()))
    (launch,) = decided.launches
    chosen = next(t for t in aws_catalog.instance_types if t.name == launch.launch.chosen.instance_type)
    assert chosen.architecture == "amd64" and chosen.vcpu == 2


def test_daemonsets_that_do_not_tell_types_apart_keep_one_overhead(aws_catalog) -> None:
    node = node_json("n-1", cpu="4", memory="8Gi")
    proxy = pod_json("proxy", cpu="100m", memory="64Mi", node="n-1", daemonset="ds-all")
    assert type_overheads(inputs(pods=[proxy], nodes=[node], catalog=aws_catalog)) == {}


def test_a_node_in_flight_keeps_room_a_daemonset_of_another_architecture_will_not_take(aws_catalog) -> None:
    arm = node_json("arm-1", cpu="4", memory="8Gi", labels={ARCH: "arm64"})
    agent = _selecting(
        pod_json("agent", cpu="1500m", memory="64Mi", node="arm-1", daemonset="ds-arm"), **{ARCH: "arm64"}
    )
    flying = record("r1", Lifecycle.PENDING, instance_type="m5.large", node_name="")
    pod = pod_json("web", cpu="1500m", memory="1Gi")
    state = inputs(pods=[agent, pod], nodes=[arm], records=(flying,), catalog=aws_catalog)
    decided = plan_launches(state, pods_to_plan(state, frozenset()))
    assert not decided.launches and [p.name for join in decided.joins for p in join.planned] == ["web"]
