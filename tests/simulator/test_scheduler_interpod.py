"""The simulated kube-scheduler's rules between pods (InterPodAffinity, PodTopologySpread,
NodePorts), against a real store: pods land only where kube-scheduler would put them, and a pod
no node satisfies stays Pending with kube-scheduler's message naming the rule."""

from __future__ import annotations

from typing import Any

from simulator.controllers.scheduling import placement_reasons
from simulator.resources import NODES, PODS
from tests.simulator.test_scheduler import harness, node, placement, pod, scheduled_condition

__all__ = ["harness"]  # the fixture, shared with the scheduler's other tests

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
WEB = {"app": "web"}


def _term(key: str) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": WEB}, "topologyKey": key}


def _web(name: str, **spec: Any) -> dict[str, Any]:
    made = pod(name, cpu="100m", **spec)
    made["metadata"]["labels"] = dict(WEB)
    return made


def _nodes(api: Any, *zones: str) -> None:
    for index, zone in enumerate(zones):
        name = f"n{index}"
        api.create(NODES, "", node(name, labels={HOST: name, ZONE: zone}))


def test_required_anti_affinity_gives_each_replica_its_own_node_and_names_the_rule(harness) -> None:
    api, manager = harness
    _nodes(api, "a", "b")
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(HOST)]}}
    for index in range(3):
        api.create(PODS, "default", _web(f"web-{index}", affinity=anti))
    manager.settle()
    placed = placement(api)
    assert sorted(filter(None, placed.values())) == ["n0", "n1"]
    (left,) = [name for name, where in placed.items() if where is None]
    condition = scheduled_condition(api, left)
    assert condition["reason"] == "Unschedulable"
    assert "2 node(s) didn't match pod anti-affinity rules" in condition["message"]


def test_affinity_follows_the_matching_pod_and_the_first_of_a_group_may_go_anywhere(harness) -> None:
    api, manager = harness
    _nodes(api, "a", "b", "c")
    api.create(
        PODS,
        "default",
        _web(
            "leader",
            affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(ZONE)]}},
        ),
    )
    manager.settle()
    leader_zone = api.get(NODES, "", placement(api)["leader"]).obj["metadata"]["labels"][ZONE]
    follower = pod(
        "follower",
        cpu="100m",
        affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(ZONE)]}},
    )
    api.create(PODS, "default", follower)
    lonely = pod(
        "lonely",
        cpu="100m",
        affinity={
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "none"}}, "topologyKey": ZONE}
                ]
            }
        },
    )
    api.create(PODS, "default", lonely)
    manager.settle()
    placed = placement(api)
    assert api.get(NODES, "", placed["follower"]).obj["metadata"]["labels"][ZONE] == leader_zone
    assert placed["lonely"] is None
    assert "didn't match pod affinity rules" in scheduled_condition(api, "lonely")["message"]


def test_a_running_pods_anti_affinity_keeps_matching_pods_away(harness) -> None:
    api, manager = harness
    _nodes(api, "a", "b")
    guard = pod(
        "guard",
        cpu="100m",
        nodeName="n0",
        affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(ZONE)]}},
    )
    api.create(PODS, "default", guard)
    for index in range(3):
        api.create(PODS, "default", _web(f"web-{index}"))
    manager.settle()
    assert {placement(api)[f"web-{i}"] for i in range(3)} == {"n1"}


def test_zone_spread_and_min_domains_stop_at_the_skew(harness) -> None:
    api, manager = harness
    _nodes(api, "a", "b")
    constraint = {
        "maxSkew": 1,
        "topologyKey": ZONE,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": WEB},
        "minDomains": 3,
    }
    for index in range(3):
        api.create(PODS, "default", _web(f"web-{index}", topologySpreadConstraints=[constraint]))
    manager.settle()
    placed = placement(api)
    assert sorted(filter(None, placed.values())) == ["n0", "n1"]
    (left,) = [name for name, where in placed.items() if where is None]
    assert "didn't match pod topology spread constraints" in scheduled_condition(api, left)["message"]


def test_a_host_port_is_used_once_per_node(harness) -> None:
    api, manager = harness
    _nodes(api, "a")
    for index in range(2):
        made = pod(f"agent-{index}", cpu="100m")
        made["spec"]["containers"][0]["ports"] = [{"containerPort": 9100, "hostPort": 9100}]
        api.create(PODS, "default", made)
    manager.settle()
    assert sorted(map(str, placement(api).values())) == ["None", "n0"]
    left = next(name for name, where in placement(api).items() if where is None)
    assert "didn't have free ports" in scheduled_condition(api, left)["message"]


def test_the_oracle_agrees_with_the_scheduler_on_a_placed_cluster(harness) -> None:
    api, manager = harness
    _nodes(api, "a", "b")
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term(HOST)]}}
    api.create(PODS, "default", _web("web-0", affinity=anti))
    manager.settle()
    nodes = [s.obj for s in api.store.list(NODES).items]
    pods = [s.obj for s in api.store.list(PODS).items]
    where = placement(api)["web-0"]
    other = "n1" if where == "n0" else "n0"
    second = _web("web-1", affinity=anti)
    assert placement_reasons(second, where, nodes, pods) == ["node(s) didn't match pod anti-affinity rules"]
    assert placement_reasons(second, other, nodes, pods) == []


def test_a_gated_pod_is_not_scheduled(harness) -> None:
    api, manager = harness
    _nodes(api, "a")
    api.create(PODS, "default", pod("gated", cpu="100m", schedulingGates=[{"name": "example.com/quota"}]))
    api.create(PODS, "default", pod("free", cpu="100m"))
    manager.settle()
    assert placement(api) == {"gated": None, "free": "n0"}
