"""Reading what a member's own autoscaler can still add: Karpenter NodePool limits, Cluster
Autoscaler's status; and what that makes of the member's room."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engines.federation import PlacementPolicy, Strategy, schedule
from policies.federation.headroom import Headroom, cluster_autoscaler_headroom, karpenter_headroom
from policies.federation.pricing import NodeInfo
from policies.federation.snapshots import Inventory, Usage, _observe_free


def nodepool(name: str, limits: dict[str, str] | None, used: dict[str, str]) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"spec": {}}}
    if limits is not None:
        spec["limits"] = limits
    return {"metadata": {"name": name}, "spec": spec, "status": {"resources": used}}


def test_karpenter_nodepool_limits_minus_what_it_runs() -> None:
    pools = [
        nodepool("general", {"cpu": "100", "memory": "400Gi"}, {"cpu": "24", "memory": "96Gi", "nodes": "3"}),
        nodepool("gpu", {"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": "8"}, {"nvidia.com/gpu": "2"}),
    ]
    headroom = karpenter_headroom(pools)
    assert (headroom.cpu_millis, headroom.memory_mib, headroom.gpus) == (
        76_000 + 64_000,
        (304 + 256) * 1024,
        6,
    )
    assert headroom.pods is None and not headroom.elastic  # no pods limit: pod slots come with nodes
    assert headroom.sources == (
        "Karpenter NodePool general: 76 vCPU, 304 GiB left",
        "Karpenter NodePool gpu: 64 vCPU, 256 GiB left",
    )


def test_a_nodepool_without_limits_makes_the_member_elastic() -> None:
    headroom = karpenter_headroom([nodepool("default", None, {"cpu": "8"})])
    assert headroom.elastic and headroom.sources == ("Karpenter NodePool default: no limit",)


def test_an_exhausted_or_unreadable_limit_adds_nothing() -> None:
    headroom = karpenter_headroom(
        [nodepool("full", {"cpu": "8", "memory": "32Gi"}, {"cpu": "9", "memory": "lots"})]
    )
    assert (headroom.cpu_millis, headroom.memory_mib) == (0, 0)


def test_cluster_autoscaler_status_that_is_not_yaml_or_missing_adds_nothing() -> None:
    node = NodeInfo("m5.xlarge", 3920, 15_360, 0, 58)
    assert cluster_autoscaler_headroom(None, [node], [{}]) == Headroom()
    plain = {"data": {"status": "Cluster-autoscaler status at 2020-01-01:\nCluster-wide:\n  Health: Healthy"}}
    assert cluster_autoscaler_headroom(plain, [node], [{}]) == Headroom()


def test_a_group_without_nodes_of_its_own_is_sized_like_the_members_usual_node() -> None:
    nodes = [NodeInfo("m5.xlarge", 3920, 15_360, 0, 58), NodeInfo("m5.xlarge", 3920, 15_360, 0, 58)]
    status = "nodeGroups:\n- name: spare\n  health: {status: Healthy, cloudProviderTarget: 0, minSize: 0, maxSize: 2}\n"
    headroom = cluster_autoscaler_headroom({"data": {"status": status}}, nodes, [{}, {}])
    assert (headroom.cpu_millis, headroom.pods) == (2 * 3920, 2 * 58)


def test_headroom_adds_to_the_room_of_the_nodes_it_has() -> None:
    inventory = Inventory(
        (NodeInfo("m5.xlarge", 4000, 16_384, 0, 58),), Usage(1000, 1024, 0, 2), Headroom(8000, 32_768, 0, 116)
    )
    free, pods = _observe_free(inventory, Usage())
    assert (free.cpu_millicores, free.memory_mib, pods) == (11_000, 48_128, 172)


def test_an_elastic_member_offers_a_workload_what_it_asks_for_and_no_more() -> None:
    from policies.federation.snapshots import UNLIMITED
    from tests.engines.federation.federation_builders import observe_cluster, workload

    inventory = Inventory((), Usage(), Headroom(elastic=True))
    free, pods = _observe_free(inventory, Usage())
    assert free.cpu_millicores == UNLIMITED and pods is None
    unlimited = observe_cluster("karpenter", cores=UNLIMITED / 1000, memory_gib=UNLIMITED / 1024)
    elastic = replace(unlimited, elastic=True)
    result = schedule(workload(5), PlacementPolicy(Strategy.MOST_CAPACITY), [elastic])
    assert dict(result.replicas) == {"id-karpenter": 5}
    assert result.decision.chosen[0].available_replicas == 5
