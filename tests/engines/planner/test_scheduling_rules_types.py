"""The scheduling-rules matrix, continued: rules that depend on the instance type of a new node.

- Node volume limits per type: a new node's CSINode reports its type's EBS count (the oracle's
  nodes register with it), so a type attaching fewer volumes than the pods packed together mount is
  kept from them, and a pod mounting more than most types attach gets a type that can.
- Preferences on any label a new node carries (instance type, architecture, capacity type): among
  offerings of equal price the one the pods prefer is taken - and a preference never adds cost
  (checked on random workloads).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.kube import labels as wk
from engines.planner import CapacityType, Catalog, Offering
from tests.engines.planner.planner_builders import ZONES, instance
from tests.engines.planner.scheduling_oracle import Storage, node_json, pod_json, run

EBS = "ebs.csi.aws.com"
WFFC = {
    "metadata": {"name": "gp3"},
    "provisioner": EBS,
    "volumeBindingMode": "WaitForFirstConsumer",
}


def _claims(*names: str) -> list[dict[str, Any]]:
    spec = {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3"}
    return [{"metadata": {"name": n}, "spec": spec, "status": {"phase": "Pending"}} for n in names]


def _type_of(outcome: Any, name: str) -> str:
    return str(outcome.node_of(name)["metadata"]["labels"][wk.INSTANCE_TYPE])


def test_a_type_attaching_fewer_volumes_than_the_pods_mount_together_is_not_used_for_them() -> None:
    # The two cheapest types attach one volume: three small volume pods would share one such node.
    names = [f"d-{i}" for i in range(3)]
    few = {"c6g.large": 1, "c5.large": 1}
    storage = Storage(claims=_claims(*names), classes=[WFFC], new_node_limit=26, type_limits=few)
    outcome = run([pod_json(f"db-{i}", cpu="100m", claims=[n]) for i, n in enumerate(names)], storage=storage)
    assert not outcome.refused and len(outcome.bound) == 3  # each node's CSINode count was kept
    assert {_type_of(outcome, f"db-{i}") for i in range(3)}.isdisjoint(few)
    # The same pods with every type attaching 26 share the cheapest type, as any pods would.
    plain = run(
        [pod_json(f"db-{i}", cpu="100m", claims=[n]) for i, n in enumerate(names)],
        storage=Storage(claims=_claims(*names), classes=[WFFC], new_node_limit=26),
    )
    assert {_type_of(plain, f"db-{i}") for i in range(3)} & set(few)


def test_a_pod_mounting_more_volumes_than_most_types_attach_gets_a_type_that_can() -> None:
    names = [f"d-{i}" for i in range(30)]
    storage = Storage(
        claims=_claims(*names), classes=[WFFC], new_node_limit=26, type_limits={"m5.2xlarge": 31}
    )
    outcome = run([pod_json("wide", claims=names)], storage=storage)
    assert not outcome.refused and _type_of(outcome, "wide") == "m5.2xlarge"


def test_a_pod_mounting_more_volumes_than_any_type_attaches_is_named() -> None:
    names = [f"d-{i}" for i in range(30)]
    storage = Storage(
        claims=_claims(*names), classes=[WFFC], new_node_limit=26, type_limits={"m5.2xlarge": 27}
    )
    outcome = run([pod_json("wide", claims=names)], storage=storage)
    assert outcome.unschedulable() == {"wide": "volume_limit"}
    assert "at most 27" in outcome.plan.unschedulable[0].reason


def _twin_catalog() -> Catalog:
    """Two types of one price (amd64 first in table order), on-demand in every zone."""
    types = (instance("m5.large", 2, 8), instance("m6g.large", 2, 8, architecture="arm64", generation=6))
    offerings = tuple(
        Offering(t.name, zone, CapacityType.ON_DEMAND, 0.096, 0.096) for t in types for zone in ZONES
    )
    return Catalog(provider="aws", region="test-1", zones=ZONES, instance_types=types, offerings=offerings)


def _prefer(key: str, value: str, weight: int = 50) -> dict[str, Any]:
    term = {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}
    return {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "preference": term}]
        }
    }


def test_preferred_node_affinity_on_the_architecture_picks_among_equal_prices() -> None:
    catalog = _twin_catalog()
    plain = run([pod_json("api")], catalog=catalog)
    assert _type_of(plain, "api") == "m5.large"  # table order, without a preference
    arm = run([pod_json("api", affinity=_prefer(wk.ARCH, "arm64"))], catalog=catalog)
    assert not arm.refused and _type_of(arm, "api") == "m6g.large"
    assert arm.plan.cost_per_hour == plain.plan.cost_per_hour
    assert "scheduling preferences" in arm.plan.launches[0].decision.reason


def test_preferred_pod_affinity_on_the_instance_type_joins_its_pods_type_at_no_cost() -> None:
    catalog = _twin_catalog()
    node = node_json("old", {wk.ZONE: "z-a", wk.INSTANCE_TYPE: "m6g.large"}, cpu=1, memory_gib=1)
    cache = pod_json("cache", labels={"app": "cache"}, cpu="900m", memory="900Mi")
    cache["spec"]["nodeName"] = "old"
    near = {
        "weight": 100,
        "podAffinityTerm": {
            "labelSelector": {"matchLabels": {"app": "cache"}},
            "topologyKey": wk.INSTANCE_TYPE,
        },
    }
    rules = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [near]}}
    outcome = run([pod_json("api", affinity=rules)], nodes=[node], running=[cache], catalog=catalog)
    assert not outcome.refused and _type_of(outcome, "api") == "m6g.large"


def test_a_preference_for_a_dearer_capacity_type_never_buys_it() -> None:
    plain = run([pod_json(f"w-{i}") for i in range(3)])
    on_demand = run(
        [pod_json(f"w-{i}", affinity=_prefer(wk.CAPACITY_TYPE, "on-demand", 100)) for i in range(3)]
    )
    assert not on_demand.refused and len(on_demand.bound) == 3
    assert on_demand.plan.cost_per_hour == plain.plan.cost_per_hour
    assert {launch.chosen.capacity_type for launch in on_demand.plan.launches} == {CapacityType.SPOT}


PREFERENCES = (
    (wk.ARCH, "arm64"),
    (wk.ARCH, "amd64"),
    (wk.CAPACITY_TYPE, "on-demand"),
    (wk.INSTANCE_TYPE, "m5.2xlarge"),
    (wk.INSTANCE_TYPE, "g4dn.xlarge"),
    (wk.ZONE, "z-c"),
    ("team", "blue"),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["250m", "500m", "1", "3"]), st.sampled_from(PREFERENCES), st.integers(1, 100)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_preferences_never_add_cost(workload: list[tuple[str, tuple[str, str], int]]) -> None:
    plain = run([pod_json(f"p-{i}", cpu=cpu) for i, (cpu, _, _) in enumerate(workload)])
    preferring = run(
        [
            pod_json(f"p-{i}", cpu=cpu, affinity=_prefer(key, value, weight))
            for i, (cpu, (key, value), weight) in enumerate(workload)
        ]
    )
    assert not preferring.refused and len(preferring.bound) == len(workload)
    assert preferring.plan.cost_per_hour == plain.plan.cost_per_hour
