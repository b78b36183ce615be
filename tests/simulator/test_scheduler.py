"""The default scheduler: predicates in isolation, then the controller against a real store."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.api import ClusterApi
from simulator.clock import ManualClock
from simulator.controllers.base import ControllerManager
from simulator.controllers.scheduler import Scheduler
from simulator.controllers.scheduling import NodeState, PodNeeds, tolerates, unfit_reasons
from simulator.resources import EVENTS, NODES, PODS
from simulator.store import ObjectStore

GIB = 1024**3


def node(name, cpu="4", memory="16Gi", labels=None, taints=None, unschedulable=False, ready=True):
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(name, cpu="1", **spec):
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {"name": "c", "image": "i", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}
            ],
            **spec,
        },
    }


@pytest.fixture
def harness():
    clock = ManualClock()
    api = ClusterApi(ObjectStore(clock), clock)
    manager = ControllerManager(api.store, clock, [Scheduler(api)])
    return api, manager


def placement(api):
    return {
        s.obj["metadata"]["name"]: (s.obj["spec"].get("nodeName") or None) for s in api.store.list(PODS).items
    }


def scheduled_condition(api, name):
    conditions = api.get(PODS, "default", name).obj["status"].get("conditions") or []
    return next(c for c in conditions if c["type"] == "PodScheduled")


def test_pods_go_only_to_nodes_they_tolerate_and_select(harness):
    api, manager = harness
    api.create(
        NODES,
        "",
        node(
            "gpu",
            labels={"accelerator": "t4"},
            taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}],
        ),
    )
    api.create(NODES, "", node("plain", labels={"zone": "a"}))
    api.create(PODS, "default", pod("web"))
    api.create(
        PODS,
        "default",
        pod(
            "training", nodeSelector={"accelerator": "t4"}, tolerations=[{"key": "gpu", "operator": "Exists"}]
        ),
    )
    api.create(
        PODS,
        "default",
        pod(
            "zonal",
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}
                        ]
                    }
                }
            },
        ),
    )
    manager.settle()
    assert placement(api) == {"web": "plain", "training": "gpu", "zonal": "plain"}


def test_pods_that_fit_nowhere_are_marked_unschedulable_like_kube_scheduler(harness):
    api, manager = harness
    api.create(NODES, "", node("small", cpu="1"))
    api.create(
        NODES, "", node("tainted", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    )
    api.create(NODES, "", node("cordoned", unschedulable=True))
    api.create(PODS, "default", pod("big", cpu="2"))
    manager.settle()
    condition = scheduled_condition(api, "big")
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"].startswith(
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were unschedulable."
    )
    reasons = [e.obj["reason"] for e in api.store.list(EVENTS).items]
    assert reasons == ["FailedScheduling"]


def test_an_unschedulable_pod_is_bound_when_a_node_appears(harness):
    api, manager = harness
    api.create(PODS, "default", pod("waiting"))
    manager.settle()
    assert scheduled_condition(api, "waiting")["message"] == "no nodes available to schedule pods"
    api.create(NODES, "", node("new"))
    manager.settle()
    assert placement(api) == {"waiting": "new"}
    assert scheduled_condition(api, "waiting")["status"] == "True"


def test_not_ready_nodes_receive_no_pods(harness):
    api, manager = harness
    api.create(NODES, "", node("booting", ready=False))
    api.create(PODS, "default", pod("p"))
    manager.settle()
    assert placement(api) == {"p": None}


def test_capacity_is_never_overcommitted(harness):
    api, manager = harness
    api.create(NODES, "", node("a", cpu="2"))
    api.create(NODES, "", node("b", cpu="2"))
    for n in range(5):
        api.create(PODS, "default", pod(f"p{n}", cpu="1"))
    manager.settle()
    bound = [n for n in placement(api).values() if n]
    assert sorted(bound) == ["a", "a", "b", "b"]


def test_pods_of_other_schedulers_are_left_alone(harness):
    api, manager = harness
    api.create(NODES, "", node("a"))
    api.create(PODS, "default", pod("custom", schedulerName="nodeless-scheduler"))
    manager.settle()
    assert placement(api) == {"custom": None}


taint_keys = st.sampled_from(["a", "b", "gpu"])
effects = st.sampled_from(["NoSchedule", "NoExecute"])
taints = st.fixed_dictionaries({"key": taint_keys, "value": st.sampled_from(["", "x"]), "effect": effects})


@given(taint=taints)
def test_an_exists_toleration_without_key_tolerates_every_taint(taint):
    assert tolerates([{"operator": "Exists"}], taint)


@given(taint=taints, other=taint_keys)
def test_a_toleration_for_another_key_does_not_tolerate(taint, other):
    if other != taint["key"]:
        assert not tolerates([{"key": other, "operator": "Exists"}], taint)


@given(used=st.integers(min_value=0, max_value=8), wanted=st.integers(min_value=1, max_value=8))
def test_resource_fit_matches_arithmetic(used, wanted):
    state = NodeState("n", {}, (), {"cpu": 8.0, "pods": 110}, used={"cpu": float(used)})
    needs = PodNeeds({"cpu": float(wanted)}, {}, None, ())
    assert (unfit_reasons(needs, state) == []) == (used + wanted <= 8)
