"""Consolidation: an underused node is deleted when its pods fit elsewhere, replaced when a cheaper
node holds them, and left alone when a pod must not be evicted."""

from __future__ import annotations

from datetime import timedelta

from tests.workers.provisioning.provisioning_builders import NOW, inputs, node_json, pod_json, record
from workers.provisioning.commands import Consolidate, DrainReplaced, ReplacementDone
from workers.provisioning.disruption.base import disrupt
from workers.provisioning.disruption.consolidation import Consolidation, replacements_settled
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
