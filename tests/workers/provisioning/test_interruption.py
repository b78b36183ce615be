"""Spot interruption: the noticed node drains and its pods are planned again at once."""

from __future__ import annotations

from clusters.cloud.interface import InterruptionNotice, NoticeKind
from engines.kube.labels import ARCH
from engines.planner import PlannerPolicy
from engines.planner.policy import InstanceRequirements
from tests.workers.provisioning.provisioning_builders import NOW, inputs, node_json, pod_json, record
from workers.provisioning.commands import Consolidate, Interrupt
from workers.provisioning.disruption.base import disrupt
from workers.provisioning.disruption.interruption import Interruption
from workers.provisioning.disruption.rebalance import Rebalance
from workers.provisioning.records import Lifecycle


def _notice(instance_id: str, kind: NoticeKind = NoticeKind.SPOT_INTERRUPTION) -> InterruptionNotice:
    return InterruptionNotice(kind, instance_id, NOW, NOW, "m")


def test_a_spot_notice_drains_the_node_and_hands_its_pods_to_planning() -> None:
    pods = [pod_json("web", node="node-r1"), pod_json("agent", node="node-r1", daemonset="ds")]
    state = inputs(
        pods=pods,
        nodes=[node_json("node-r1", instance_id="i-r1", record_id="r1")],
        records=(record("r1", instance_type="m5.large"),),
        notices=(_notice("i-r1"),),
    )
    (command,) = disrupt(Interruption(), state)
    assert isinstance(command, Interrupt)
    assert command.node_name == "node-r1" and [p.name for p in command.replacement_pods] == ["web"]
    assert command.reason == "spot interruption notice: reclaimed before 12:00:00 UTC"
    assert command.note.startswith("Spot interruption for m5.large in us-east-1a")


def test_other_notices_and_nodes_already_interrupted_change_nothing() -> None:
    records = (record("r1"), record("r2", interrupted_at=NOW))
    notices = (_notice("i-r1", NoticeKind.REBALANCE_RECOMMENDATION), _notice("i-r2"), _notice("i-unknown"))
    assert disrupt(Interruption(), inputs(records=records, notices=notices)) == []


def test_a_rebalance_recommendation_launches_the_replacement_early_elsewhere(aws_catalog) -> None:
    pods = [pod_json("web", node="node-r1"), pod_json("agent", node="node-r1", daemonset="ds")]
    state = inputs(
        pods=pods,
        nodes=[node_json("node-r1", instance_id="i-r1", record_id="r1")],
        records=(record("r1", instance_type="m5.large", capacity_type="spot"),),
        notices=(_notice("i-r1", NoticeKind.REBALANCE_RECOMMENDATION),),
        catalog=aws_catalog,
    )
    (command,) = disrupt(Rebalance(), state)
    assert isinstance(command, Consolidate) and command.rebalance
    assert command.record_ids == ("r1",) and command.node_names == ("node-r1",)
    replacement = command.replacement
    assert replacement is not None and [p.name for p in replacement.planned] == ["web"]
    # Never the offering at risk.
    assert all(
        (o.instance_type, o.zone, o.capacity_type.value) != ("m5.large", "us-east-1a", "spot")
        for o in replacement.launch.offerings
    )
    assert "drained once it is Ready" in command.note


def test_an_interruption_after_a_rebalance_does_not_plan_the_pods_twice(aws_catalog) -> None:
    pods = [pod_json("web", node="node-r1")]
    state = inputs(
        pods=pods,
        nodes=[node_json("node-r1", instance_id="i-r1", record_id="r1")],
        records=(
            record("r1", capacity_type="spot", replaced_by_id="r2"),
            record("r2", state=Lifecycle.LAUNCHING),
        ),
        notices=(_notice("i-r1"), _notice("i-r1", NoticeKind.REBALANCE_RECOMMENDATION)),
        catalog=aws_catalog,
    )
    (command,) = disrupt(Interruption(), state)
    assert isinstance(command, Interrupt) and command.replacement_pods == ()
    assert "replacement already launched" in command.note
    assert disrupt(Rebalance(), state) == []  # and no second replacement


def test_a_rebalance_replacement_reserves_only_the_daemonsets_of_its_instance_type(aws_catalog) -> None:
    # An agent DaemonSet runs only on arm64 nodes (1.5 CPU), a proxy everywhere (0.1 CPU): the
    # 1.7-CPU pod fits a 2-vCPU amd64 node, which runs the proxy only.
    arm = node_json("arm-1", cpu="4", memory="8Gi", labels={ARCH: "arm64"})
    agent = pod_json("agent", cpu="1500m", memory="64Mi", node="arm-1", daemonset="ds-arm")
    agent["spec"]["nodeSelector"] = {ARCH: "arm64"}
    proxies = [
        pod_json(f"proxy-{node}", cpu="100m", memory="64Mi", node=node, daemonset="ds-all")
        for node in ("arm-1", "node-r1")
    ]
    state = inputs(
        pods=[agent, *proxies, pod_json("web", node="node-r1", cpu="1700m", memory="1Gi")],
        nodes=[arm, node_json("node-r1", instance_id="i-r1", record_id="r1", cpu="3920m", memory="14Gi")],
        records=(record("r1", instance_type="m5.xlarge", capacity_type="spot"),),
        notices=(_notice("i-r1", NoticeKind.REBALANCE_RECOMMENDATION),),
        catalog=aws_catalog,
        policy=PlannerPolicy(instance_requirements=InstanceRequirements(min_vcpu=2, max_vcpu=2)),
    )
    (command,) = disrupt(Rebalance(), state)
    assert isinstance(command, Consolidate) and command.replacement is not None
    launch = command.replacement.launch
    shape = next(t for t in aws_catalog.instance_types if t.name == launch.chosen.instance_type)
    assert shape.architecture == "amd64" and shape.vcpu == 2
    assert launch.requests.cpu_millis == 1800  # the pod and the proxy
