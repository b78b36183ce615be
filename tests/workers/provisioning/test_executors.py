"""Executors act through the ports only: checked against the in-memory cloud and cluster."""

from __future__ import annotations

from clusters.cloud.errors import InsufficientCapacityError
from clusters.cloud.interface import LaunchRequest, Offering
from engines.kube import CapacityType, Pod
from tests.workers.provisioning.fakes import FakeCloud, FakeKube
from tests.workers.provisioning.provisioning_builders import node_json
from workers.provisioning import executors
from workers.provisioning.commands import BindPod, DrainNode, Terminate

OFFERING = Offering("m5.large", "us-east-1a", CapacityType.ON_DEMAND)


def test_terminating_cordons_terminates_then_deletes_the_node() -> None:
    cloud, kube = FakeCloud(), FakeKube()
    instance = cloud.launch(LaunchRequest((OFFERING,), "t-1")).instance
    kube.add_node("node-1", instance_id=instance.instance_id)
    executors.terminate(cloud, kube, node_name="node-1", instance_id=instance.instance_id)
    assert kube.calls == [("cordon", "node-1"), ("delete_node", "node-1")]
    assert ("terminate", instance.instance_id) in cloud.calls and cloud.live() == []


def _drain_step(kube: FakeKube, *names: str) -> DrainNode:
    pods = tuple(Pod(kube.add_pod(name, node="node-1")) for name in names)
    then = Terminate("r1", "node-1", "i-1", "drained", 0.1, "node-1")
    return DrainNode("r1", "node-1", pods, held=0, then=then)


def test_a_drain_is_done_once_every_pod_is_evicted() -> None:
    kube = FakeKube()
    kube.node_objects["node-1"] = node_json("node-1")
    step = _drain_step(kube, "a", "b")
    assert executors.drain(kube, step)
    assert kube.node_objects["node-1"]["spec"]["unschedulable"] and kube.pod_objects == {}


def test_a_drain_a_disruption_budget_blocks_is_not_done() -> None:
    kube = FakeKube()
    step = _drain_step(kube, "a", "b")
    kube.blocked.add(("default", "b"))
    assert not executors.drain(kube, step)
    assert list(kube.pod_objects) == [("default", "b")]


def test_launches_return_their_failures_instead_of_raising() -> None:
    cloud = FakeCloud()
    cloud.no_capacity.add(OFFERING)
    spot = Offering("m5.large", "us-east-1a", CapacityType.SPOT)
    failed, fell_back = executors.launch_instances(
        cloud, [LaunchRequest((OFFERING,), "t-1"), LaunchRequest((OFFERING, spot), "t-2")]
    )
    assert isinstance(failed, InsufficientCapacityError)
    assert not isinstance(fell_back, Exception) and fell_back.offering == spot
    assert [f.offering for f in fell_back.skipped] == [OFFERING]


def test_binding_counts_the_pods_bound() -> None:
    kube = FakeKube()
    kube.add_pod("a")
    kube.add_pod("b", node="elsewhere")
    bound = executors.bind(kube, [BindPod("default", "a", "node-1"), BindPod("default", "b", "node-1")])
    assert bound == 1 and kube.pod("a")["spec"]["nodeName"] == "node-1"
