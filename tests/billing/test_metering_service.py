"""Metering real clusters (simulated cloud and Kubernetes API on loopback): prices paid after the
discount, prorated node-seconds, pod allocation, placements with their decision, idempotent
re-metering, catching up, unreachable clusters, and observe-mode nodes priced from their labels."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from billing.models import AllocationUsage, ClusterRollup, Granularity, NodeUsage, PodPlacement, UsageInterval
from billing.services.metering import (
    CATCH_UP_INTERVALS,
    due_intervals,
    floor_interval,
    floor_minute,
    meter_cluster,
)
from clusters import services as cluster_services
from clusters.models import CloudAccount, ManagedNode, NodeState
from engines.kube.capacity import CapacityType
from engines.metering import UNPRICED
from policies.models import Decision, DecisionKind
from simulator.controllers.static_nodes import StaticNodePool
from tenants.actors import Actor
from tests.billing.ledger_builders import make_cluster
from tests.fixtures.connections import connected, kubeconfig_for
from tests.fixtures.simulation import kube_api, wait_for
from workers.tasks import metering_meter_all, metering_meter_cluster, metering_prune

pytestmark = pytest.mark.django_db
LIST_PRICES = {"m5.xlarge": 0.192}  # us-east-1 on-demand list price, $/h (data/aws/on_demand_prices.csv)


def _running_node(nodeless, discount_pct: float) -> ManagedNode:
    CloudAccount.objects.filter(organization=nodeless.cast.org_a).update(on_demand_discount_pct=discount_pct)
    nodeless.policy(capacity_types=["on_demand"])
    nodeless.create_pod("web", cpu="1500m", memory="3Gi", run_seconds=3600)
    nodeless.until(lambda: nodeless.running_on_managed_nodes().get("web"))
    (row,) = nodeless.rows(state=NodeState.READY)
    return row


def test_a_launched_node_is_billed_at_the_discounted_price_from_its_launch_and_its_pod_allocated(
    nodeless,
) -> None:
    row = _running_node(nodeless, discount_pct=20)
    row.refresh_from_db()
    assert row.launched_at is not None
    start = floor_minute(row.launched_at)
    result = meter_cluster(str(nodeless.cluster.pk), now=start + timedelta(seconds=75), starts=[start])
    assert result.outcome == "metered" and result.pods_observed

    row.refresh_from_db()
    list_price = float(row.list_price_per_hour)
    assert list_price > 0, "metering fills in the list price from the catalog"
    assert float(row.price_per_hour) == pytest.approx(list_price * 0.8, rel=1e-4)
    (node,) = NodeUsage.objects.filter(cluster=nodeless.cluster)
    seconds = (start + timedelta(minutes=1) - row.launched_at).total_seconds()
    assert node.managed_node_id == row.pk and node.capacity_type == CapacityType.ON_DEMAND
    assert node.seconds == pytest.approx(seconds)
    # the ledger keeps money to 1e-10 dollars
    assert float(node.cost) == pytest.approx(float(row.price_per_hour) * seconds / 3600, abs=1e-10)
    web = AllocationUsage.objects.get(cluster=nodeless.cluster, workload="Pod/web", idle=False)
    idle = AllocationUsage.objects.get(cluster=nodeless.cluster, idle=True)
    # the stored rows tie out exactly, not just to within rounding
    assert web.cost > 0 and web.cost + idle.cost == node.cost
    assert web.cpu_requested == pytest.approx(1.5 * seconds)
    assert float(web.on_demand_cost) == pytest.approx(float(web.cost), rel=1e-4)  # already on-demand

    placement = PodPlacement.objects.get(cluster=nodeless.cluster, namespace="default", name="web")
    launch = Decision.objects.get(node=row, kind=DecisionKind.LAUNCH)
    assert (placement.node_name, placement.instance_type, placement.decision_id) == (
        row.node_name,
        row.instance_type,
        launch.pk,
    )
    assert placement.managed_node_id == row.pk and float(placement.cost_per_hour) > 0


def test_re_metering_an_interval_does_not_double_count(nodeless) -> None:
    _running_node(nodeless, discount_pct=0)
    start = floor_minute(timezone.now()) + timedelta(minutes=1)
    later = start + timedelta(minutes=2)
    meter_cluster(str(nodeless.cluster.pk), now=later, starts=[start])
    first = ClusterRollup.objects.get(cluster=nodeless.cluster, granularity=Granularity.HOUR).node_cost
    meter_cluster(str(nodeless.cluster.pk), now=later, starts=[start])
    rollups = ClusterRollup.objects.filter(cluster=nodeless.cluster, granularity=Granularity.HOUR)
    assert [r.node_cost for r in rollups] == [first]
    assert UsageInterval.objects.filter(cluster=nodeless.cluster).count() == 1
    assert float(first) > 0


def test_metering_counts_the_pods_it_finds_waiting_in_the_interval_it_read_them_for(nodeless) -> None:
    """What a policy replay compares its pending time with: caught-up intervals were not seen, so
    only the latest one metered counts the pods waiting at the read."""
    _running_node(nodeless, discount_pct=0)
    nodeless.create_pod("too-big", cpu="900", memory="1Gi")  # no instance type holds it: it waits
    start = floor_minute(timezone.now()) + timedelta(minutes=1)
    meter_cluster(
        str(nodeless.cluster.pk),
        now=start + timedelta(minutes=3),
        starts=[start, start + timedelta(minutes=1)],
    )
    waiting = UsageInterval.objects.filter(cluster=nodeless.cluster).order_by("start")
    assert [row.pending_pod_seconds for row in waiting] == [0.0, 60.0]


def test_metering_takes_the_last_complete_minute_then_catches_up_on_what_it_missed(nodeless) -> None:
    _running_node(nodeless, discount_pct=0)
    cluster_id = str(nodeless.cluster.pk)
    now = timezone.now() + timedelta(minutes=1)
    assert meter_cluster(cluster_id, now=now).intervals == 1
    assert meter_cluster(cluster_id, now=now).outcome == "up-to-date"
    assert meter_cluster(cluster_id, now=now + timedelta(minutes=3)).intervals == 3
    later = now + timedelta(hours=2)  # two hours without metering: caught up over a few runs
    runs = []
    while (result := meter_cluster(cluster_id, now=later)).outcome == "metered":
        runs.append(result.intervals)
    assert runs[0] == CATCH_UP_INTERVALS and len(runs) == 2
    starts = sorted(UsageInterval.objects.filter(cluster=nodeless.cluster).values_list("start", flat=True))
    assert starts[-1] == floor_minute(later) - timedelta(minutes=1)
    assert starts == [starts[0] + timedelta(minutes=index) for index in range(len(starts))]  # no gap
    assert metering_meter_cluster(cluster_id) in (
        "metered",
        "up-to-date",
    )  # the Celery task, called in-process


def test_shorter_intervals_tile_each_minute_and_only_complete_ones_are_due() -> None:
    ten = timedelta(seconds=10)
    now = floor_minute(timezone.now()) + timedelta(seconds=37)
    assert floor_interval(now, ten) == floor_minute(now) + timedelta(seconds=30)
    assert floor_interval(now) == floor_minute(now)  # the default interval is the minute
    assert due_intervals(None, now, ten) == [floor_minute(now) + timedelta(seconds=20)]
    last = floor_minute(now) - timedelta(seconds=20)
    assert due_intervals(last, now, ten) == [last + ten * step for step in range(1, 5)]


def test_a_shorter_metering_interval_bills_complete_intervals_of_that_length(nodeless) -> None:
    row = _running_node(nodeless, discount_pct=0)
    cluster_id = str(nodeless.cluster.pk)
    now = timezone.now() + timedelta(seconds=30)
    with override_settings(NODELESS_METERING_SECONDS=10):
        assert meter_cluster(cluster_id, now=now).intervals == 1
        assert meter_cluster(cluster_id, now=now + timedelta(seconds=30)).intervals == 3
    starts = sorted(UsageInterval.objects.filter(cluster=nodeless.cluster).values_list("start", flat=True))
    assert starts == [starts[0] + timedelta(seconds=10 * index) for index in range(4)]
    assert starts[-1] == floor_interval(now + timedelta(seconds=30), timedelta(seconds=10)) - timedelta(
        seconds=10
    )
    last = UsageInterval.objects.get(cluster=nodeless.cluster, start=starts[-1])
    assert float(last.node_cost) == pytest.approx(float(row.price_per_hour) / 360, rel=1e-6)  # 10 s


def test_an_unreachable_cluster_is_still_billed_for_the_nodes_nodeless_launched(nodeless) -> None:
    row = _running_node(nodeless, discount_pct=0)
    cluster_id = str(nodeless.cluster.pk)
    start = floor_minute(timezone.now()) + timedelta(minutes=1)
    meter_cluster(cluster_id, now=start + timedelta(minutes=1), starts=[start])
    overrides = nodeless.aws.overrides_path
    endpoints = json.loads(overrides.read_text())
    for entry in endpoints.values():
        entry["endpoint"] = "https://127.0.0.1:9"  # nothing listens there
    overrides.write_text(json.dumps(endpoints))

    later = start + timedelta(minutes=1)
    result = meter_cluster(cluster_id, now=later + timedelta(minutes=1), starts=[later])
    assert result.outcome == "metered" and not result.pods_observed and result.error
    interval = UsageInterval.objects.get(cluster=nodeless.cluster, start=later)
    assert not interval.pods_observed
    assert float(interval.node_cost) == pytest.approx(float(row.price_per_hour) / 60, rel=1e-6)
    assert float(interval.idle_cost) == pytest.approx(float(interval.node_cost))
    assert PodPlacement.objects.filter(cluster=nodeless.cluster, name="web").exists()  # last known kept


@pytest.fixture
def observed(cast, simulated_cluster):
    sim = simulated_cluster(
        static_pools=(
            StaticNodePool("cloud", 2, instance_type="m5.xlarge", zone="us-east-1a"),
            StaticNodePool("rack", 1, cpu=16, memory_mib=65536),
        ),
        pod_start_delay=0.0,
    )
    cluster = connected(
        cluster_services.cluster_connect_kubeconfig(
            cast.org_a,
            actor=Actor(user=cast.alice),
            name="dc1",
            kubeconfig=kubeconfig_for(sim),
            context="onprem",
            mode="observe",
            labels={"region": "us-east-1"},
        )
    )
    return cluster, sim


def test_observe_mode_nodes_are_priced_from_their_instance_type_labels_and_unknown_types_are_unpriced(
    observed, kube_client
) -> None:
    cluster, sim = observed
    core = kube_api(__import__("kubernetes").client.CoreV1Api, kube_client(sim))
    core.create_namespaced_pod(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "api", "labels": {"app": "api"}},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "busybox",
                        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
                    }
                ]
            },
        },
    )
    # Metered from the minute after the kubelet started it, so the pod runs the whole interval.
    wait_for(lambda: core.read_namespaced_pod("api", "default").status.start_time)
    started = core.read_namespaced_pod("api", "default").status.start_time
    start = floor_minute(max(timezone.now(), started)) + timedelta(minutes=1)
    meter_cluster(str(cluster.pk), now=start + timedelta(minutes=1), starts=[start])
    nodes = {n.node_name: n for n in NodeUsage.objects.filter(cluster=cluster)}
    assert set(nodes) == {"cloud-0", "cloud-1", "rack-0"}
    for name in ("cloud-0", "cloud-1"):
        assert (
            nodes[name].capacity_type == CapacityType.ON_DEMAND and nodes[name].instance_type == "m5.xlarge"
        )
        assert nodes[name].price_per_hour == Decimal(str(LIST_PRICES["m5.xlarge"]))
        assert float(nodes[name].cost) == pytest.approx(0.192 / 60)
    assert nodes["rack-0"].capacity_type == UNPRICED and nodes["rack-0"].price_per_hour is None
    api = AllocationUsage.objects.get(cluster=cluster, workload="app/api")
    assert api.cpu_requested == pytest.approx(60.0)
    interval = UsageInterval.objects.get(cluster=cluster)
    assert interval.unpriced_node_seconds == 60 and float(interval.node_cost) == pytest.approx(2 * 0.192 / 60)


def test_the_beat_runs_metering_every_minute_and_pruning_hourly(cast) -> None:
    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks[metering_meter_all.name] == 60.0
    assert tasks[metering_prune.name] == 3600.0
    assert metering_meter_all() == 0  # no cluster: nothing enqueued
    assert metering_prune() == 0


def test_an_unreachable_cluster_with_no_launched_node_is_not_recorded_at_zero_but_left_due(cast) -> None:
    cluster = make_cluster(cast.org_a, "dark")  # nothing answers at its endpoint
    now = timezone.now()
    result = meter_cluster(str(cluster.pk), now=now)
    assert result.outcome == "unreachable" and result.error
    assert not UsageInterval.objects.filter(cluster=cluster).exists()
    assert not ClusterRollup.objects.filter(cluster=cluster).exists()
