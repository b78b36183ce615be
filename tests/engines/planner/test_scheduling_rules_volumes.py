"""The scheduling-rules matrix, continued: volume topology (claims, volumes and storage classes as
the API server serves them, read the way the product's kube port reads them), node volume limits,
preferences, and the init/sidecar/overhead sizing rule. Each pod that uses a rule is planned and then
accepted on its planned node by the simulator's independent predicate (volume filters included), or
stays pending with the rule named."""

from __future__ import annotations

from typing import Any

from engines.kube import labels as wk
from tests.engines.planner.scheduling_oracle import (
    Storage,
    anti_affinity,
    csi_node,
    node_json,
    pod_json,
    run,
)

EBS = "ebs.csi.aws.com"


def _class(name: str, mode: str = "WaitForFirstConsumer", zones: tuple[str, ...] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name}, "provisioner": EBS, "volumeBindingMode": mode}
    if zones:
        body["allowedTopologies"] = [{"matchLabelExpressions": [{"key": wk.ZONE, "values": list(zones)}]}]
    return body


def _claim(name: str, class_name: str = "gp3", volume: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": class_name,
        "resources": {"requests": {"storage": "10Gi"}},
    }
    if volume:
        spec["volumeName"] = volume
    return {"metadata": {"name": name}, "spec": spec, "status": {"phase": "Bound" if volume else "Pending"}}


def _volume(name: str, zone: str, claim: str) -> dict[str, Any]:
    term = {"matchExpressions": [{"key": wk.ZONE, "operator": "In", "values": [zone]}]}
    return {
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": "10Gi"},
            "storageClassName": "gp3",
            "csi": {"driver": EBS, "volumeHandle": f"vol-{name}"},
            "claimRef": {"namespace": "default", "name": claim},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}},
        },
        "status": {"phase": "Bound"},
    }


def _bound(claim: str, zone: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return _claim(claim, volume=f"pv-{claim}"), _volume(f"pv-{claim}", zone, claim)


def test_a_wait_for_first_consumer_claim_lands_in_its_class_allowed_zone() -> None:
    storage = Storage(claims=[_claim("data")], classes=[_class("gp3", zones=("z-b",))], new_node_limit=26)
    outcome = run([pod_json("db", claims=["data"])], storage=storage)
    assert not outcome.refused and outcome.zone_of("db") == "z-b"


def test_a_bound_volume_pins_its_pod_to_the_volumes_zone() -> None:
    claim, volume = _bound("data", "z-c")
    storage = Storage(claims=[claim], volumes=[volume], classes=[_class("gp3")], new_node_limit=26)
    outcome = run([pod_json("db", claims=["data"])], storage=storage)
    assert not outcome.refused and outcome.zone_of("db") == "z-c"


def test_a_bound_volume_in_a_zone_the_pod_may_not_use_is_named() -> None:
    claim, volume = _bound("data", "z-c")
    storage = Storage(claims=[claim], volumes=[volume], classes=[_class("gp3")], new_node_limit=26)
    outcome = run([pod_json("db", claims=["data"], node_selector={wk.ZONE: "z-a"})], storage=storage)
    assert outcome.unschedulable() == {"db": "volume_zone"} and not outcome.plan.launches


def test_a_node_at_its_attach_limit_takes_no_pod_with_a_new_volume() -> None:
    node = node_json("full", {wk.ZONE: "z-a"})
    claims, volumes = zip(*(_bound(f"d-{i}", "z-a") for i in range(3)), strict=True)
    running = pod_json("old", claims=["d-0", "d-1"])
    running["spec"]["nodeName"] = "full"
    storage = Storage(
        claims=claims,
        volumes=volumes,
        classes=[_class("gp3")],
        csi_nodes=[csi_node("full", 2)],
        new_node_limit=26,
    )
    outcome = run([pod_json("new", claims=["d-2"])], nodes=[node], running=[running], storage=storage)
    assert not outcome.refused and outcome.node_of("new")["metadata"]["name"] != "full"
    assert outcome.zone_of("new") == "z-a"


def test_a_pod_with_more_volumes_than_a_node_attaches_is_named() -> None:
    storage = Storage(claims=[_claim(f"d-{i}") for i in range(3)], classes=[_class("gp3")], new_node_limit=2)
    outcome = run([pod_json("greedy", claims=["d-0", "d-1", "d-2"])], storage=storage)
    assert outcome.unschedulable() == {"greedy": "volume_limit"}
    (blocked,) = outcome.plan.unschedulable
    assert "at most 2" in blocked.reason


def test_pods_whose_volumes_exceed_one_nodes_limit_never_overfill_a_node() -> None:
    storage = Storage(claims=[_claim(f"d-{i}") for i in range(3)], classes=[_class("gp3")], new_node_limit=2)
    outcome = run([pod_json(f"db-{i}", cpu="100m", claims=[f"d-{i}"]) for i in range(3)], storage=storage)
    assert not outcome.refused and len(outcome.bound) == 3  # the oracle counted each node's volumes
    # Under the limit, volume pods share a node as any other pods do.
    few = run([pod_json(f"db-{i}", cpu="100m", claims=[f"d-{i}"]) for i in range(2)], storage=storage)
    assert not few.refused and len({p["spec"]["nodeName"] for p in few.bound}) == 1


def test_preferred_node_affinity_breaks_the_tie_between_zones_a_required_rule_leaves() -> None:
    prefer_c = {
        "weight": 50,
        "preference": {"matchExpressions": [{"key": wk.ZONE, "operator": "In", "values": ["z-c"]}]},
    }
    rules = anti_affinity({"app": "db"}, wk.ZONE)
    rules["nodeAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [prefer_c]}
    outcome = run([pod_json("db", labels={"app": "db"}, affinity=rules)])
    assert not outcome.refused and outcome.zone_of("db") == "z-c"


def test_preferred_pod_affinity_breaks_the_tie_towards_the_zone_of_its_pods() -> None:
    node = node_json("old", {wk.ZONE: "z-b"}, cpu=1, memory_gib=1)
    cache = pod_json("cache", labels={"app": "cache"}, cpu="900m", memory="900Mi")
    cache["spec"]["nodeName"] = "old"
    near = {
        "weight": 100,
        "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": wk.ZONE},
    }
    rules = anti_affinity({"app": "api"}, wk.ZONE)
    rules["podAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [near]}
    outcome = run([pod_json("api", labels={"app": "api"}, affinity=rules)], nodes=[node], running=[cache])
    assert not outcome.refused and outcome.zone_of("api") == "z-b"


def test_a_preference_alone_never_adds_cost() -> None:
    prefer = {
        "weight": 100,
        "preference": {"matchExpressions": [{"key": wk.ZONE, "operator": "In", "values": ["z-c"]}]},
    }
    plain = run([pod_json(f"w-{i}") for i in range(4)])
    preferring = run(
        [
            pod_json(
                f"w-{i}",
                affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [prefer]}},
            )
            for i in range(4)
        ]
    )
    assert not preferring.refused and len(preferring.bound) == 4
    assert preferring.plan.cost_per_hour == plain.plan.cost_per_hour


def test_init_containers_sidecars_and_overhead_size_the_pod_as_kube_scheduler_does() -> None:
    # 2 CPUs free: the app asks 1, but its init container asks 3 (alone), so the pod does not fit;
    # a sidecar (restartPolicy Always) runs beside the app: 1 + 0.5 + overhead 0.25 = 1.75 fits.
    node = node_json("small", {wk.ZONE: "z-a"}, cpu=2, memory_gib=8)
    heavy_init = pod_json("init", cpu="1")
    heavy_init["spec"]["initContainers"] = [{"name": "migrate", "resources": {"requests": {"cpu": "3"}}}]
    with_sidecar = pod_json("side", cpu="1")
    with_sidecar["spec"]["initContainers"] = [
        {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}}
    ]
    with_sidecar["spec"]["overhead"] = {"cpu": "250m"}
    outcome = run([heavy_init, with_sidecar], nodes=[node])
    assert not outcome.refused and len(outcome.bound) == 2
    assert outcome.node_of("side")["metadata"]["name"] == "small"
    assert outcome.node_of("init")["metadata"]["name"] != "small"
