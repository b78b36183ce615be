"""Only pods that are ours are planned for or bound: never another scheduler's pod, a gated or
nominated pod, nor a pod the policy leaves alone (by namespace or label)."""

from __future__ import annotations

from engines.kube.labels import LabelSelector
from engines.planner import Exclusions, PlannerPolicy
from tests.workers.provisioning.provisioning_builders import inputs, node_json, planned, pod_json, record
from workers.provisioning.bind import plan_binds
from workers.provisioning.launch import plan_launches, pods_to_plan
from workers.provisioning.records import Lifecycle


def _names(state) -> list[str]:
    return [pod.name for pod in pods_to_plan(state, frozenset())]


def test_a_pod_of_another_scheduler_is_never_planned_for(aws_catalog) -> None:
    theirs = pod_json("volcano-job")
    theirs["spec"]["schedulerName"] = "volcano"
    fargate = pod_json("on-fargate")
    fargate["spec"]["schedulerName"] = "fargate-scheduler"
    ours = pod_json("web")
    ours["spec"]["schedulerName"] = "default-scheduler"
    state = inputs(pods=[theirs, fargate, ours], catalog=aws_catalog)
    assert _names(state) == ["web"]
    decided = plan_launches(state, pods_to_plan(state, frozenset()))
    assert {p.name for launch in decided.launches for p in launch.planned} == {"web"}


def test_gated_nominated_and_static_pods_are_not_ours() -> None:
    gated = pod_json("gated")
    gated["spec"]["schedulingGates"] = [{"name": "example.com/quota"}]
    nominated = pod_json("nominated")
    nominated["status"]["nominatedNodeName"] = "node-x"
    static = pod_json("static")
    static["metadata"]["ownerReferences"] = [{"kind": "Node", "name": "n", "uid": "n", "controller": True}]
    assert _names(inputs(pods=[gated, nominated, static, pod_json("plain")])) == ["plain"]


def test_pods_the_policy_leaves_alone_are_not_planned_for() -> None:
    policy = PlannerPolicy(
        exclusions=Exclusions(
            namespaces=frozenset({"ml"}),
            label_selectors=(LabelSelector(match_labels={"autoscaler": "other"}),),
        )
    )
    in_namespace = pod_json("train", namespace="ml")
    labelled = pod_json("labelled")
    labelled["metadata"]["labels"] = {"autoscaler": "other"}
    assert _names(inputs(pods=[in_namespace, labelled, pod_json("web")], policy=policy)) == ["web"]


def test_a_replacement_pod_of_another_scheduler_is_not_bound_in_the_planned_pods_place() -> None:
    gone = pod_json("web-old", owner="rs-1")
    replacement = pod_json("web-new", owner="rs-1")
    replacement["spec"]["schedulerName"] = "my-custom-scheduler"
    ready = record("r1", planned_pods=(planned(gone),))
    node = node_json("node-r1", instance_id="i-r1", record_id="r1")
    (bind,) = plan_binds(inputs(pods=[replacement], nodes=[node], records=(ready,)))
    assert bind.pods == ()
    assert ready.state == Lifecycle.READY


def test_a_pod_whose_rules_cannot_be_read_stays_pending_with_the_reason(aws_catalog) -> None:
    broken = pod_json("broken")
    broken["spec"]["topologySpreadConstraints"] = [{"maxSkew": [1], "topologyKey": "zone"}]
    state = inputs(pods=[broken], catalog=aws_catalog)
    decided = plan_launches(state, pods_to_plan(state, frozenset()))
    assert not decided.launches
    ((pending),) = decided.pending
    assert pending.pod_key == "default/broken" and "cannot read" in pending.reason
