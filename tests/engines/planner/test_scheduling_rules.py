"""The scheduling-rules matrix: for each rule kube-scheduler enforces, pods using it are planned and
then accepted on their planned nodes by the simulator's independent predicate (the oracle), and a pod
no node can satisfy stays pending with that rule named."""

from __future__ import annotations

from engines.kube import labels as wk
from engines.planner import PlannerPolicy, Taint
from tests.engines.planner.scheduling_oracle import (
    affinity,
    anti_affinity,
    node_json,
    pod_json,
    run,
    spread,
)

WEB = {"app": "web"}


def test_three_required_anti_affinity_replicas_get_three_nodes() -> None:
    pods = [pod_json(f"web-{i}", labels=WEB, affinity=anti_affinity(WEB, wk.HOSTNAME)) for i in range(3)]
    outcome = run(pods)
    assert not outcome.refused and len(outcome.bound) == 3
    assert len({p["spec"]["nodeName"] for p in outcome.bound}) == 3


def test_anti_affinity_keeps_a_pending_pod_off_a_running_replicas_node() -> None:
    node = node_json("old", {wk.ZONE: "z-a"})
    running = [{**pod_json("web-0", labels=WEB), "spec": {**pod_json("web-0")["spec"], "nodeName": "old"}}]
    pending = [pod_json("web-1", labels=WEB, affinity=anti_affinity(WEB, wk.HOSTNAME))]
    outcome = run(pending, nodes=[node], running=running)
    assert not outcome.refused and outcome.node_of("web-1")["metadata"]["name"] != "old"


def test_zone_anti_affinity_uses_each_zone_once_and_names_the_rule_for_the_fourth() -> None:
    pods = [
        pod_json(f"db-{i}", labels={"app": "db"}, affinity=anti_affinity({"app": "db"}, wk.ZONE))
        for i in range(4)
    ]
    outcome = run(pods)
    assert not outcome.refused
    assert sorted(outcome.zone_of(f"db-{i}") for i in range(3)) == ["z-a", "z-b", "z-c"]
    assert outcome.unschedulable() == {"db-3": "pod_anti_affinity"}


def test_existing_pods_anti_affinity_keeps_new_pods_out_of_its_zone() -> None:
    node = node_json("old", {wk.ZONE: "z-a"})
    guard = pod_json("guard", affinity=anti_affinity(WEB, wk.ZONE))
    guard["spec"]["nodeName"] = "old"
    outcome = run([pod_json(f"web-{i}", labels=WEB) for i in range(3)], nodes=[node], running=[guard])
    assert not outcome.refused and len(outcome.bound) == 4
    assert all(outcome.zone_of(f"web-{i}") != "z-a" for i in range(3))


def test_zone_affinity_follows_the_running_pod() -> None:
    node = node_json("old", {wk.ZONE: "z-b"}, cpu=1, memory_gib=1)
    db = pod_json("db", labels={"app": "db"}, cpu="900m", memory="900Mi")
    db["spec"]["nodeName"] = "old"
    outcome = run(
        [pod_json("api", cpu="2", affinity=affinity({"app": "db"}, wk.ZONE))], nodes=[node], running=[db]
    )
    assert not outcome.refused and outcome.zone_of("api") == "z-b"


def test_hostname_affinity_joins_the_running_pods_node() -> None:
    node = node_json("old", {wk.ZONE: "z-b"})
    db = pod_json("db", labels={"app": "db"})
    db["spec"]["nodeName"] = "old"
    outcome = run(
        [pod_json("cache", affinity=affinity({"app": "db"}, wk.HOSTNAME))], nodes=[node], running=[db]
    )
    assert not outcome.refused and outcome.node_of("cache")["metadata"]["name"] == "old"


def test_affinity_that_no_pod_matches_stays_pending_with_the_rule_named() -> None:
    outcome = run([pod_json("lonely", affinity=affinity({"app": "nobody"}, wk.ZONE))])
    assert outcome.unschedulable() == {"lonely": "pod_affinity"} and not outcome.plan.launches


def test_self_affine_group_in_a_zone_lands_in_one_zone() -> None:
    group = {"app": "batch"}
    pods = [pod_json(f"b-{i}", labels=group, affinity=affinity(group, wk.ZONE)) for i in range(4)]
    outcome = run(pods)
    assert not outcome.refused and len({outcome.zone_of(f"b-{i}") for i in range(4)}) == 1


def test_zone_spread_puts_two_pods_in_each_zone() -> None:
    pods = [pod_json(f"web-{i}", labels=WEB, spread=[spread(WEB, wk.ZONE)]) for i in range(6)]
    outcome = run(pods)
    assert not outcome.refused and len(outcome.bound) == 6
    zones = sorted(outcome.zone_of(f"web-{i}") for i in range(6))
    assert zones == ["z-a", "z-a", "z-b", "z-b", "z-c", "z-c"]


def test_min_domains_caps_each_zone_and_names_the_spread_rule() -> None:
    rule = spread(WEB, wk.ZONE, minDomains=5)
    outcome = run([pod_json(f"web-{i}", labels=WEB, spread=[rule]) for i in range(4)])
    assert not outcome.refused and len(outcome.bound) == 3
    assert outcome.unschedulable() == {"web-3": "topology_spread"}


def test_zone_spread_counts_running_pods_on_matching_nodes_only() -> None:
    a = node_json("a", {wk.ZONE: "z-a"})
    running = []
    for i in range(2):
        pod = pod_json(f"old-{i}", labels=WEB)
        pod["spec"]["nodeName"] = "a"
        running.append(pod)
    outcome = run(
        [pod_json(f"web-{i}", labels=WEB, spread=[spread(WEB, wk.ZONE)]) for i in range(2)],
        nodes=[a],
        running=running,
    )
    assert not outcome.refused and len(outcome.bound) == 4
    assert {outcome.zone_of("web-0"), outcome.zone_of("web-1")} == {"z-b", "z-c"}


def test_hostname_spread_gives_nodes_the_oracle_accepts() -> None:
    pods = [pod_json(f"web-{i}", labels=WEB, spread=[spread(WEB, wk.HOSTNAME)]) for i in range(4)]
    outcome = run(pods)
    assert not outcome.refused and len(outcome.bound) == 4


def test_host_ports_are_never_shared_and_a_daemonsets_port_is_named() -> None:
    outcome = run(
        [pod_json(f"agent-{i}", host_ports=[9100]) for i in range(2)] + [pod_json("dns", host_ports=[53])],
        daemonset_ports=[53],
    )
    assert not outcome.refused
    assert outcome.node_of("agent-0") is not outcome.node_of("agent-1")
    assert outcome.unschedulable() == {"dns": "host_port"}


def test_a_zonal_volume_pod_gets_a_node_in_its_volumes_zone() -> None:
    outcome = run([pod_json("pg")], volume_zones={"pg": frozenset({"z-b"})})
    assert not outcome.refused and outcome.zone_of("pg") == "z-b"


def test_a_volume_in_a_zone_it_may_not_use_is_named() -> None:
    outcome = run([pod_json("pg", node_selector={wk.ZONE: "z-a"})], volume_zones={"pg": frozenset({"z-b"})})
    assert outcome.unschedulable() == {"pg": "volume_zone"}


def test_node_selector_and_taints_are_honoured() -> None:
    policy = PlannerPolicy(node_taints=(Taint("dedicated", "batch"),), node_labels={"pool": "batch"})
    tolerant = pod_json(
        "ok",
        node_selector={"pool": "batch", wk.ZONE: "z-c"},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}],
    )
    outcome = run([tolerant, pod_json("intolerant")], policy=policy)
    assert not outcome.refused and outcome.zone_of("ok") == "z-c"
    assert outcome.unschedulable() == {"intolerant": "untolerated_taint"}


def test_pending_pods_without_rules_keep_out_of_a_pending_pods_anti_affinity_zone() -> None:
    guard = pod_json("guard", affinity=anti_affinity(WEB, wk.ZONE))
    outcome = run([pod_json(f"web-{i}", labels=WEB) for i in range(4)] + [guard])
    assert not outcome.refused and len(outcome.bound) == 5
    assert all(outcome.zone_of(f"web-{i}") != outcome.zone_of("guard") for i in range(4))


def test_affinity_to_pending_pods_waits_for_them_with_that_said() -> None:
    db = pod_json("db", labels={"app": "db"})
    outcome = run([db, pod_json("api", affinity=affinity({"app": "db"}, wk.HOSTNAME))])
    assert outcome.unschedulable() == {"api": "pod_affinity"}
    (waiting,) = outcome.plan.unschedulable
    assert "waits for the pending pods" in waiting.reason
