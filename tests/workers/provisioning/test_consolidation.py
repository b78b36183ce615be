"""Consolidation: an underused node is deleted when its pods fit elsewhere, replaced when a cheaper
node holds them, and left alone when a pod must not be evicted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from engines.kube.capacity import CapacityType
from engines.kube.labels import ARCH
from engines.planner import PlannerPolicy
from engines.planner.policy import InstanceRequirements
from tests.workers.provisioning.provisioning_builders import NOW, inputs, node_json, pod_json, record
from workers.provisioning.commands import Consolidate, DrainReplaced, ReplacementDone
from workers.provisioning.disruption.base import disrupt
from workers.provisioning.disruption.consolidation import (
    Consolidation,
    disruption_budget,
    replacements_settled,
)
from workers.provisioning.records import Lifecycle


def _two_nodes(small_annotations=None):
    pods = [
        pod_json("small", node="node-a", cpu="100m", memory="128Mi", annotations=small_annotations),
        pod_json("big", node="node-b", cpu="1", memory="1Gi"),
    ]
    nodes = [
        node_json("node-a", instance_id="i-a", record_id="a", cpu="3920m", memory="14Gi"),
        node_json("node-b", instance_id="i-b", record_id="b", cpu="3920m", memory="14Gi"),
    ]
    records = (
        record("a", instance_type="m5.xlarge", node_name="node-a", price_per_hour=0.192),
        record("b", instance_type="m5.xlarge", node_name="node-b", price_per_hour=0.192),
    )
    return pods, nodes, records


def test_an_underused_node_whose_pods_fit_on_another_is_deleted(aws_catalog) -> None:
    pods, nodes, records = _two_nodes()
    state = inputs(
        pods=pods, nodes=nodes, records=records, catalog=aws_catalog, scale_down_delay=timedelta(0)
    )
    (command,) = disrupt(Consolidation(), state)
    assert isinstance(command, Consolidate) and command.replacement is None
    assert command.record_ids == ("a",) and command.saving_per_hour == 0.192
    assert command.note.startswith("node-a used 3% CPU; its 1 pod(s) fit on other nodes")
    assert "$0.1920/h per pod moved" in command.note


def test_a_pod_that_must_not_be_evicted_keeps_its_node(aws_catalog) -> None:
    pods, nodes, records = _two_nodes({"karpenter.sh/do-not-disrupt": "true"})
    state = inputs(
        pods=pods, nodes=nodes, records=records, catalog=aws_catalog, scale_down_delay=timedelta(0)
    )
    commands = disrupt(Consolidation(), state)
    assert [c.record_ids for c in commands] == [("b",)]  # type: ignore[union-attr]


def test_an_underused_node_alone_is_replaced_by_a_cheaper_one(aws_catalog) -> None:
    pods = [pod_json("small", node="node-a", cpu="100m", memory="128Mi")]
    nodes = [node_json("node-a", instance_id="i-a", record_id="a", cpu="15890m", memory="57Gi")]
    records = (record("a", instance_type="m5.4xlarge", node_name="node-a", price_per_hour=0.768),)
    state = inputs(
        pods=pods, nodes=nodes, records=records, catalog=aws_catalog, scale_down_delay=timedelta(0)
    )
    (command,) = disrupt(Consolidation(), state)
    assert isinstance(command, Consolidate) and command.record_ids == ("a",)
    replacement = command.replacement
    assert replacement is not None and [p.name for p in replacement.planned] == ["small"]
    assert replacement.launch.chosen.price_per_hour <= 0.8 * 0.768
    assert "replacing it with" in command.note


def test_the_policy_threshold_keeps_deletions_and_drops_smaller_savings(aws_catalog) -> None:
    # A deletion saves all of a node's price; a replacement saves less than all of it.
    pods, nodes, records = _two_nodes()
    state = inputs(
        pods=pods, nodes=nodes, records=records, catalog=aws_catalog, scale_down_delay=timedelta(0)
    )
    (command,) = disrupt(Consolidation(min_saving_share=1.0), state)
    assert isinstance(command, Consolidate) and command.replacement is None
    pods = [pod_json("small", node="node-a", cpu="100m", memory="128Mi")]
    nodes = [node_json("node-a", instance_id="i-a", record_id="a", cpu="15890m", memory="57Gi")]
    records = (record("a", instance_type="m5.4xlarge", node_name="node-a", price_per_hour=0.768),)
    state = inputs(
        pods=pods, nodes=nodes, records=records, catalog=aws_catalog, scale_down_delay=timedelta(0)
    )
    assert len(disrupt(Consolidation(min_saving_share=0.5), state)) == 1
    assert disrupt(Consolidation(min_saving_share=1.0), state) == []


def test_nodes_younger_than_the_delay_are_not_consolidated(aws_catalog) -> None:
    pods, nodes, records = _two_nodes()
    young = tuple(
        r.__class__(**{**{f: getattr(r, f) for f in r.__slots__}, "ready_at": NOW}) for r in records
    )
    state = inputs(
        pods=pods, nodes=nodes, records=young, catalog=aws_catalog, scale_down_delay=timedelta(minutes=1)
    )
    assert disrupt(Consolidation(), state) == []


def test_the_nodes_a_ready_replacement_stands_for_drain_and_those_of_a_lost_one_stay() -> None:
    new = record("new", instance_type="c5.large")
    flying = record("flying", Lifecycle.PENDING)
    failed = record("failed", Lifecycle.FAILED)
    records = (
        record("old-1", replaced_by_id="new"),
        record("old-2", replaced_by_id="new"),
        record("old-3", replaced_by_id="flying"),
        record("old-4", replaced_by_id="failed"),
        record("old-5", replaced_by_id="gone"),
        record("old-6", Lifecycle.DRAINING, replaced_by_id="new"),
        new,
        flying,
        failed,
    )
    assert replacements_settled(inputs(records=records)) == [
        DrainReplaced("old-1", "consolidation: replaced by c5.large"),
        DrainReplaced("old-2", "consolidation: replaced by c5.large"),
        ReplacementDone("old-4"),
        ReplacementDone("old-5"),
    ]


def test_a_pod_of_another_scheduler_keeps_its_node(aws_catalog) -> None:
    """Never touched: consolidation would evict it to save money, so its node stays."""
    pods, nodes, records = _two_nodes()
    pods[0]["spec"]["schedulerName"] = "volcano"
    state = inputs(
        pods=pods, nodes=nodes, records=records, catalog=aws_catalog, scale_down_delay=timedelta(0)
    )
    commands = disrupt(Consolidation(), state)
    assert [c.record_ids for c in commands if isinstance(c, Consolidate)] == [("b",)]


def _selecting(manifest: dict[str, Any], **selector: str) -> dict[str, Any]:
    manifest["spec"]["nodeSelector"] = dict(selector)
    return manifest


def test_a_replacement_reserves_only_the_daemonsets_of_its_instance_type(aws_catalog) -> None:
    # An agent DaemonSet runs only on arm64 nodes (1.5 CPU); a proxy runs everywhere (0.1 CPU). The
    # 1.7-CPU pod of an m5.xlarge fits a 2-vCPU amd64 node, which runs the proxy only: counting the
    # agent there too (one overhead for every type) would leave no 2-vCPU node for it.
    arm = node_json("arm-1", cpu="4", memory="8Gi", labels={ARCH: "arm64"})
    agent = _selecting(
        pod_json("agent", cpu="1500m", memory="64Mi", node="arm-1", daemonset="ds-arm"), **{ARCH: "arm64"}
    )
    proxies = [
        pod_json(f"proxy-{node}", cpu="100m", memory="64Mi", node=node, daemonset="ds-all")
        for node in ("arm-1", "node-a")
    ]
    web = pod_json("web", node="node-a", cpu="1700m", memory="1Gi", owner="rs-web")
    nodes = [arm, node_json("node-a", instance_id="i-a", record_id="a", cpu="3920m", memory="14Gi")]
    records = (record("a", instance_type="m5.xlarge", node_name="node-a", price_per_hour=0.192),)
    policy = PlannerPolicy(
        capacity_types=frozenset({CapacityType.ON_DEMAND}),
        instance_requirements=InstanceRequirements(min_vcpu=2, max_vcpu=2),
    )
    state = inputs(
        pods=[agent, *proxies, web],
        nodes=nodes,
        records=records,
        catalog=aws_catalog,
        policy=policy,
        scale_down_delay=timedelta(0),
    )
    (command,) = disrupt(Consolidation(), state)
    assert isinstance(command, Consolidate) and command.replacement is not None
    chosen = command.replacement.launch.chosen.instance_type
    shape = next(t for t in aws_catalog.instance_types if t.name == chosen)
    assert shape.architecture == "amd64" and shape.vcpu == 2
    assert command.replacement.launch.requests.cpu_millis == 1800  # the pod and the proxy


def test_the_budget_rounds_a_tenth_of_the_nodes_up_less_the_nodes_being_disrupted() -> None:
    def budget(ready: int, **others: int) -> int:
        records = [record(f"r{i}") for i in range(ready)]
        records += [record(f"d{i}", Lifecycle.DRAINING) for i in range(others.get("draining", 0))]
        records += [record(f"o{i}", replaced_by_id="new") for i in range(others.get("replaced", 0))]
        records += [record(f"p{i}", Lifecycle.PENDING) for i in range(others.get("pending", 0))]
        nodes = [
            node_json(r.node_name, instance_id=r.instance_id, record_id=r.id) for r in records if r.node_name
        ]
        return disruption_budget(inputs(nodes=nodes, records=tuple(records)))

    # Karpenter: allowed = roundup(10 % x nodes) - nodes deleting or not Ready (at least 0).
    assert [budget(n) for n in (0, 1, 10, 11, 20, 21)] == [0, 1, 1, 2, 2, 3]
    assert budget(10, draining=1) == 1 and budget(9, draining=2) == 0
    assert budget(10, replaced=1) == 1  # ceil(1.1) = 2, one node waiting for its replacement
    assert budget(10, pending=5) == 1  # nodes not registered yet do not count


def test_three_nodes_onto_one_wait_for_a_budget_of_three(aws_catalog) -> None:
    # Three m5.xlarge hold one 2.1-CPU pod each (no m5.large holds one; no node has room for
    # another's): one m5.2xlarge replaces the three. Karpenter counts each node of a multi-node
    # command against the budget: roundup(10 % x 21) = 3 allows it, roundup(10 % x 20) = 2 does not.
    policy = PlannerPolicy(
        capacity_types=frozenset({CapacityType.ON_DEMAND}),
        instance_requirements=InstanceRequirements(families_allow=frozenset({"m5"})),
    )

    def consolidated(size: int) -> list[tuple[str, ...]]:
        pods, nodes, records = [], [], []
        for i in range(size):
            name = f"node-{i:02d}"
            cpu = "2100m" if i < 3 else "3800m"  # the others are full
            pods.append(pod_json(f"p{i}", node=name, cpu=cpu, memory="1Gi", owner=f"rs{i}"))
            nodes.append(node_json(name, instance_id=f"i-{i}", record_id=str(i), cpu="3920m", memory="14Gi"))
            records.append(record(str(i), instance_type="m5.xlarge", node_name=name, price_per_hour=0.192))
        state = inputs(
            pods=pods,
            nodes=nodes,
            records=tuple(records),
            catalog=aws_catalog,
            policy=policy,
            scale_down_delay=timedelta(0),
        )
        return [c.node_names for c in disrupt(Consolidation(), state) if isinstance(c, Consolidate)]

    assert consolidated(21) == [("node-00", "node-01", "node-02")]
    assert consolidated(20) == []
