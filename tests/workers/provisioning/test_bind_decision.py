"""The bind decision: planned pods bound when their node is Ready, replacements of the same
controller taking their place, and the initializing taint lifted when nothing is left."""

from __future__ import annotations

from tests.workers.provisioning.provisioning_builders import (
    INITIALIZING,
    inputs,
    node_json,
    planned,
    pod_json,
    record,
)
from workers.provisioning.bind import plan_binds
from workers.provisioning.pods import RESERVED_TAINT
from workers.provisioning.records import Lifecycle


def _node(**options):
    return node_json("node-r1", instance_id="i-r1", record_id="r1", taints=(INITIALIZING,), **options)


def test_the_planned_pods_are_bound_and_the_taint_lifted_once_nothing_is_left() -> None:
    pod = pod_json("web", owner="rs-1")
    ready = record("r1", planned_pods=(planned(pod),))
    (plan,) = plan_binds(inputs(pods=[pod], nodes=[_node()], records=(ready,)))
    assert [p.name for p in plan.pods] == ["web"] and plan.node_name == "node-r1"
    assert plan.kept == () and plan.changed
    assert plan.untaint


def test_a_replaced_pod_is_bound_through_its_controller_s_new_pod() -> None:
    gone = pod_json("web-old", owner="rs-1")
    new = pod_json("web-new", owner="rs-1")
    ready = record("r1", planned_pods=(planned(gone),))
    (plan,) = plan_binds(inputs(pods=[new], nodes=[_node()], records=(ready,)))
    assert [p.name for p in plan.pods] == ["web-new"]


def test_a_planned_pod_still_running_elsewhere_keeps_its_room_and_the_taint() -> None:
    elsewhere = pod_json("db", node="node-old", owner="rs-2")
    ready = record("r1", planned_pods=(planned(elsewhere),))
    old = node_json("node-old")
    (plan,) = plan_binds(inputs(pods=[elsewhere], nodes=[_node(), old], records=(ready,)))
    assert plan.pods == () and [p.name for p in plan.kept] == ["db"]
    assert not plan.changed and not plan.untaint


def test_nodes_not_ready_or_not_registered_bind_nothing() -> None:
    pod = pod_json("web")
    pending = record("r1", Lifecycle.PENDING, planned_pods=(planned(pod),))
    unregistered = record("r2", planned_pods=(planned(pod),), node_name="")
    assert plan_binds(inputs(pods=[pod], records=(pending, unregistered))) == ()


def test_a_bind_kube_scheduler_would_refuse_is_not_made_and_the_pod_leaves_the_plan() -> None:
    """Checked at bind time with the state read now: a pod that arrived on the node meanwhile has
    the label the planned pod's required anti-affinity forbids."""
    pod = pod_json("web-2", owner="rs-1")
    pod["metadata"]["labels"] = {"app": "web"}
    term = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
    pod["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    arrived = pod_json("web-1", node="node-r1", owner="rs-1")
    arrived["metadata"]["labels"] = {"app": "web"}
    ready = record("r1", planned_pods=(planned(pod),))
    (plan,) = plan_binds(inputs(pods=[pod, arrived], nodes=[_node()], records=(ready,)))
    assert plan.pods == () and plan.kept == () and plan.changed


def test_a_planned_pod_gains_a_toleration_of_exactly_its_nodes_nodeless_taint() -> None:
    pod = pod_json("solo")
    reserved = {"key": RESERVED_TAINT, "value": pod["metadata"]["uid"], "effect": "NoSchedule"}
    other = {"key": "example.com/gpu", "value": "true", "effect": "NoSchedule"}
    node = node_json("node-r1", instance_id="i-r1", record_id="r1", taints=(reserved,))
    ready = record("r1", planned_pods=(planned(pod),), reserved_for_pod=pod["metadata"]["uid"])
    (plan,) = plan_binds(inputs(pods=[pod], nodes=[node], records=(ready,)))
    assert [p.name for p in plan.pods] == ["solo"]
    assert plan.tolerations[pod["metadata"]["uid"]] == ({**reserved, "operator": "Equal"},)
    # A taint that is not Nodeless's own is never tolerated on the pod's behalf: no bind.
    tainted = node_json("node-r1", instance_id="i-r1", record_id="r1", taints=(reserved, other))
    (refused,) = plan_binds(inputs(pods=[pod], nodes=[tainted], records=(ready,)))
    assert refused.pods == ()
