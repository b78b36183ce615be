"""A spot interruption reaches the loop the way AWS delivers it - the account's EventBridge rule
routes the warning to the interruption queue, whose policy lets EventBridge send - and the
replacement node is Ready before the two-minute notice ends, on the simulated cloud's clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from clusters.models import NodeState
from simulator.clock import ScaledClock
from simulator.cloud.simulated_cloud import CloudConfig, SimulatedCloud
from tests.fixtures.provisioning import pod_manifest

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulated_cloud() -> Iterator[SimulatedCloud]:
    # Real-time simulated minutes (the shared cloud runs 120x): the notice's two minutes are two
    # minutes of this clock, so the assertion below measures the loop, not the machine's load.
    cloud = SimulatedCloud(CloudConfig(), ScaledClock(speed=1))
    cloud.start()
    yield cloud
    cloud.stop()


def _deployment(name: str) -> dict[str, Any]:
    template = pod_manifest(name, cpu="1", memory="1Gi")
    template["metadata"].pop("name")
    template.pop("apiVersion")
    template.pop("kind")
    template["metadata"]["labels"] = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": template},
    }


def test_the_replacement_is_ready_before_the_spot_notice_ends(nodeless, kube_client) -> None:
    nodeless.policy(capacity_types=["spot"])
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    apps.create_namespaced_deployment("default", _deployment("api"))
    pods = lambda: nodeless.core.list_namespaced_pod("default", label_selector="app=api").items  # noqa: E731
    nodeless.until(lambda: any(p.status.phase == "Running" for p in pods()))
    (row,) = nodeless.rows(state=NodeState.READY)

    cloud = nodeless.aws.cloud
    injected = cloud.interrupt(row.instance_id)
    queue = cloud.clusters[nodeless.sim.name].interruption_queue_url
    assert injected.delivered_to == (queue,) and not injected.refused_by

    nodeless.until(lambda: nodeless.rows(interrupted_at__isnull=False))
    replacement = nodeless.rows()[-1]
    assert replacement.pk != row.pk
    nodeless.until(lambda: replacement.refresh_from_db() or replacement.state == NodeState.READY)
    assert cloud.clock.now() < injected.terminates_at, "the replacement came up after the reclaim"
    nodeless.until(
        lambda: any(p.status.phase == "Running" and p.spec.node_name == replacement.node_name for p in pods())
    )
