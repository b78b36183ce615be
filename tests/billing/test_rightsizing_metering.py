"""Metering a real (simulated) cluster keeps the usage history right-sizing reads.

The simulated kube-apiserver serves the metrics API as metrics-server does, so the first metering
records a sample of what the pod used (below its request); then the metrics read is replaced by a
known `PodMetricsList` for the running pod, and the sample lands in the hour's row at the rates of
the node Nodeless launched for it, at the price it pays. Without a metrics API nothing is kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import ContainerUsageHour
from billing.services import samples
from billing.services.metering import floor_minute, meter_cluster
from clusters.models import NodeState
from engines.kube.pods import resources_of
from engines.metering import split_node_price
from engines.metering.windows import floor_hour

pytestmark = pytest.mark.django_db


def test_metering_adds_what_the_metrics_api_measured_to_the_usage_history(nodeless, monkeypatch) -> None:
    nodeless.policy(capacity_types=["on_demand"])
    nodeless.create_pod("web", cpu="1500m", memory="3Gi", run_seconds=3600)
    nodeless.until(lambda: nodeless.running_on_managed_nodes().get("web"))
    (node,) = nodeless.rows(state=NodeState.READY)
    now = timezone.now()
    start = floor_minute(now) - timedelta(minutes=1)

    assert meter_cluster(str(nodeless.cluster.pk), now=now, starts=[start]).outcome == "metered"
    measured = ContainerUsageHour.objects.get(cluster=nodeless.cluster)  # the simulated metrics-server's
    assert measured.samples == 1 and 0 < measured.memory_peak_gib < 3.0
    measured.delete()
    monkeypatch.setattr(samples, "_pod_metrics", lambda cluster: None)  # a cluster without metrics-server
    assert meter_cluster(str(nodeless.cluster.pk), now=now, starts=[start]).outcome == "metered"
    assert not ContainerUsageHour.objects.filter(cluster=nodeless.cluster).exists()

    page = {
        "kind": "PodMetricsList",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "items": [
            {
                "metadata": {"name": "web", "namespace": "default"},
                "window": "30s",
                "containers": [{"name": "main", "usage": {"cpu": "300m", "memory": "768Mi"}}],
            }
        ],
    }
    monkeypatch.setattr(samples, "_pod_metrics", lambda cluster: page)
    assert meter_cluster(str(nodeless.cluster.pk), now=now, starts=[start]).outcome == "metered"

    row = ContainerUsageHour.objects.get(cluster=nodeless.cluster)
    assert (row.namespace, row.workload, row.container, row.hour) == (
        "default",
        "Pod/web",
        "main",
        floor_hour(now),
    )
    assert row.samples == 1 and row.memory_peak_gib == pytest.approx(0.75)
    assert (row.cpu_request, row.memory_request_gib) == (1.5, 3.0)
    node.refresh_from_db()
    kube_node = nodeless.core.read_node(node.node_name)
    capacity = samples.quantities(
        resources_of({key: kube_node.status.capacity[key] for key in ("cpu", "memory")})
    )
    rates = split_node_price(float(node.price_per_hour), capacity)
    assert row.priced_samples == 1 and row.cpu_rate_sum == pytest.approx(rates.cpu, rel=1e-6)
