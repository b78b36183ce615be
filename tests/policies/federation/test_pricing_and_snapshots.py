"""How member clusters are priced and sized for the engine: observe clusters at their nodes'
prices, nodeless clusters at what their provisioning policy lets the planner launch."""

from __future__ import annotations

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from clusters.models import Cluster, ClusterConnection, ClusterMode
from clusters.pricing.catalogs import list_price_catalog
from engines.federation import NodelessPricing
from engines.planner import CapacityType, Discount
from policies import services as policy_services
from policies.federation.pricing import (
    ONPREM_RATES,
    NodeInfo,
    nodeless_pricing,
    observe_pricing,
    settings_key,
)
from policies.federation.snapshots import UNLIMITED, Inventory, Usage, cluster_snapshot, nodeless_room
from policies.selectors import built_in_settings
from tenants.actors import Actor

GENERAL = ("m5.xlarge", "m5.2xlarge", "c5.xlarge", "r5.large")


def _on_demand(instance_type: str) -> float:
    return min(
        offering.list_price
        for offering in list_price_catalog("us-east-1").offerings
        if offering.instance_type == instance_type and offering.capacity_type is CapacityType.ON_DEMAND
    )


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(GENERAL), st.integers(1, 50))
def test_a_known_node_type_is_charged_its_own_price_after_discount(instance_type, discount_pct) -> None:
    node = NodeInfo(instance_type, 3920, 14_000, 0, 58)
    rates = observe_pricing([node], cloud="aws", region="us-east-1", discount=1 - discount_pct / 100)
    charged = node.cpu_millis / 1000 * rates.cpu_core_hour + node.memory_mib / 1024 * rates.memory_gib_hour
    assert charged == pytest.approx(_on_demand(instance_type) * (1 - discount_pct / 100))


def test_a_gpu_node_charges_what_its_host_does_not_to_its_gpus() -> None:
    node = NodeInfo("g5.xlarge", 3920, 14_000, 1, 58)
    rates = observe_pricing([node], cloud="aws", region="us-east-1", discount=1.0)
    charged = node.cpu_millis / 1000 * rates.cpu_core_hour + node.memory_mib / 1024 * rates.memory_gib_hour
    assert charged + rates.gpu_hour == pytest.approx(_on_demand("g5.xlarge"))


def test_on_prem_hardware_costs_less_than_the_cloud_for_the_same_request() -> None:
    onprem = observe_pricing(
        [NodeInfo("rack-8c32g", 8000, 32768, 0, 110)], cloud="onprem", region="dc", discount=1.0
    )
    cloud = observe_pricing(
        [NodeInfo("m5.2xlarge", 8000, 32768, 0, 58)], cloud="aws", region="us-east-1", discount=1.0
    )
    assert onprem == ONPREM_RATES
    assert onprem.cpu_core_hour < cloud.cpu_core_hour and onprem.memory_gib_hour < cloud.memory_gib_hour


def test_nodeless_shapes_follow_the_provisioning_policy() -> None:
    everything = nodeless_pricing("us-east-1", Discount(), settings_key(built_in_settings()))
    narrowed = {**built_in_settings(), "families_allow": ["m7g", "c7g"], "capacity_types": ["on_demand"]}
    graviton = nodeless_pricing("us-east-1", Discount(), settings_key(narrowed))
    assert {shape.name.split(".")[0] for shape in graviton.shapes} == {"m7g", "c7g"}
    cheapest_anywhere = {shape.name: shape.hourly_price for shape in everything.shapes}
    assert all(shape.hourly_price >= cheapest_anywhere[shape.name] - 1e-9 for shape in graviton.shapes)
    isolated = nodeless_pricing("us-east-1", Discount(), settings_key({**narrowed, "packing": "isolate"}))
    assert {shape.max_pods for shape in isolated.shapes} == {1}


def test_a_discount_lowers_every_nodeless_shape_price() -> None:
    key = settings_key({**built_in_settings(), "capacity_types": ["on_demand"]})
    full = {s.name: s.hourly_price for s in nodeless_pricing("us-east-1", Discount(), key).shapes}
    discounted = nodeless_pricing("us-east-1", Discount(on_demand_pct=20), key).shapes
    assert all(shape.hourly_price == pytest.approx(full[shape.name] * 0.8) for shape in discounted)


@pytest.mark.django_db
def test_observe_free_capacity_counts_usable_nodes_minus_what_runs(cast) -> None:
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="obs",
        connection=ClusterConnection.KUBECONFIG,
        labels={"cloud": "onprem"},
    )
    nodes = (
        NodeInfo("rack", 8000, 32768, 0, 110),
        NodeInfo("rack", 8000, 32768, 0, 110),
        NodeInfo("rack", 8000, 32768, 0, 110, schedulable=False),  # cordoned, tainted or not Ready
    )
    others, ours = Usage(3000, 4096, 0, 5), Usage(1000, 1024, 0, 2)
    snapshot = cluster_snapshot(cluster, Inventory(nodes, others), ours)
    assert (snapshot.free.cpu_millicores, snapshot.free.memory_mib, snapshot.free_pods) == (12000, 60416, 213)
    assert not cluster_snapshot(cluster, None, ours).reachable


@pytest.mark.django_db
def test_nodeless_free_capacity_is_the_policy_limit_minus_what_runs(cast) -> None:
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="nl",
        connection=ClusterConnection.KUBECONFIG,
        region="us-east-1",
        mode=ClusterMode.NODELESS,
        labels={"cloud": "aws"},
    )
    unlimited = cluster_snapshot(cluster, Inventory((), Usage(2000, 0, 0, 1)), Usage())
    policy_services.provisioning_policy_save(
        cast.org_a,
        actor=Actor(user=cast.alice),
        cluster=cluster,
        data={**built_in_settings(), "max_vcpu_total": 10},
    )
    limited = cluster_snapshot(cluster, Inventory((), Usage(2000, 0, 0, 1)), Usage(1500, 0, 0, 3))
    assert limited.free.cpu_millicores == 10_000 - 2000 - 1500
    assert unlimited.free.cpu_millicores > limited.free.cpu_millicores
    assert limited.location.region == "us-east-1"


def _small_and_large() -> NodelessPricing:
    from tests.engines.federation.federation_builders import shape

    # 2 vCPU for $0.10/h ($0.05 per vCPU) and 8 vCPU for $0.32/h ($0.04 per vCPU, the cheapest).
    return NodelessPricing(
        (shape("small", 2, 8, 0.10, max_pods=20), shape("large", 8, 16, 0.32, max_pods=50))
    )


def test_nodeless_room_without_limits_is_unlimited_for_the_engine_to_bound() -> None:
    room = nodeless_room(built_in_settings(), _small_and_large(), Inventory((), Usage()), Usage())
    assert room.free.cpu_millicores == UNLIMITED and room.pods == UNLIMITED


def test_nodeless_room_is_the_nodes_left_under_max_nodes_at_the_largest_shape() -> None:
    nodes = (NodeInfo("small", 2000, 8192, 0, 20),)
    others = Usage(500, 1024, 0, 1)
    settings = {**built_in_settings(), "max_nodes": 3}
    room = nodeless_room(settings, _small_and_large(), Inventory(nodes, others), Usage())
    # The node it has (1500m, 7 GiB, 19 pods free) plus 2 more of at most 8 vCPU, 16 GiB, 50 pods.
    assert (room.free.cpu_millicores, room.free.memory_mib, room.pods) == (
        1500 + 16000,
        7168 + 32768,
        19 + 100,
    )


def test_nodeless_room_is_what_the_spend_left_buys_at_the_cheapest_rate() -> None:
    nodes = (NodeInfo("small", 2000, 8192, 0, 20),)
    settings = {**built_in_settings(), "max_cost_per_hour": "0.50"}
    room = nodeless_room(settings, _small_and_large(), Inventory(nodes, Usage()), Usage())
    # $0.50 - $0.10 for the node it runs = $0.40/h: 10 vCPU at the large shape's $0.04 per vCPU,
    # 32 GiB at the small shape's $0.0125 per GiB (each resource at the shape cheapest for it).
    assert (room.free.cpu_millicores, room.free.memory_mib) == (2000 + 10_000, 8192 + 32 * 1024)


def test_the_tightest_limit_wins() -> None:
    settings = {**built_in_settings(), "max_nodes": 10, "max_vcpu_total": 4, "max_cost_per_hour": "100"}
    room = nodeless_room(settings, _small_and_large(), Inventory((), Usage(1000, 0, 0, 1)), Usage())
    assert room.free.cpu_millicores == 3000


@pytest.mark.django_db
def test_cheapest_weighs_a_nodeless_clusters_marginal_price_against_observe_node_rates(cast, policy) -> None:
    from policies.federation.inputs import build_fleet
    from policies.models import Workload
    from tests.fixtures.federation import deployment, submit
    from workers.federation import scheduling

    nodeless = Cluster.objects.create(
        organization=cast.org_a,
        name="nodeless",
        connection=ClusterConnection.KUBECONFIG,
        region="us-east-1",
        mode=ClusterMode.NODELESS,
        labels={"cloud": "aws"},
    )
    observed = Cluster.objects.create(
        organization=cast.org_a,
        name="observed",
        connection=ClusterConnection.KUBECONFIG,
        labels={"cloud": "onprem"},
    )
    workload = submit(
        cast, deployment(replicas=1, cpu="1", memory="2Gi"), policy("cheap", strategy="cheapest")
    )
    workloads = {str(workload.pk): Workload.objects.select_related("policy").get(pk=workload.pk)}
    inventories = {
        str(nodeless.pk): Inventory((), Usage()),
        str(observed.pk): Inventory((NodeInfo("rack", 8000, 32768, 0, 110),), Usage()),
    }
    fleet = build_fleet([nodeless, observed], inventories, workloads, [])

    decided = scheduling.decide(workloads[str(workload.pk)], [], fleet, {}, timezone.now())

    shapes = nodeless_pricing("us-east-1", Discount(), settings_key(built_in_settings())).shapes
    launch = min(
        s.hourly_price
        for s in shapes
        if s.allocatable.cpu_millicores >= 1000 and s.allocatable.memory_mib >= 2048
    )
    on_prem = ONPREM_RATES.cpu_core_hour + 2 * ONPREM_RATES.memory_gib_hour
    prices = {score.cluster_name: score.price_per_hour for score in decided.result.decision.chosen}
    prices |= {score.cluster_name: score.price_per_hour for score in decided.result.decision.runner_ups}
    assert prices == pytest.approx({"nodeless": launch, "observed": on_prem})
    cheaper = "nodeless" if launch < on_prem else "observed"
    assert [score.cluster_name for score in decided.result.decision.chosen] == [cheaper]
