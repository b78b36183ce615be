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
from workers.provisioning.records import Lifecycle


def _node(**options):
    return node_json("node-r1", instance_id="i-r1", record_id="r1", taints=(INITIALIZING,), **options)


def test_the_planned_pods_are_bound_and_the_taint_lifted_once_nothing_is_left() -> None:
    pod = pod_json("web", owner="rs-1")
    ready = record("r1", planned_pods=(planned(pod),))
    (plan,) = plan_binds(inputs(pods=[pod], nodes=[_node()], records=(ready,)))
    assert [p.name for p in plan.pods] == ["web"] and plan.node_name == "node-r1"
    assert plan.kept == () and plan.changed
    assert plan.untaint == ()


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
    assert not plan.changed and plan.untaint is None


def test_nodes_not_ready_or_not_registered_bind_nothing() -> None:
    pod = pod_json("web")
    pending = record("r1", Lifecycle.PENDING, planned_pods=(planned(pod),))
    unregistered = record("r2", planned_pods=(planned(pod),), node_name="")
    assert plan_binds(inputs(pods=[pod], records=(pending, unregistered))) == ()
