"""End to end against the simulated cluster, whose scheduler is kube-scheduler's stand-in: pods with
inter-pod rules end Running on nodes the oracle accepts, and another scheduler's pod is never
touched."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from kubernetes import client as k8s

from simulator.controllers.scheduling import placement_reasons
from tests.fixtures.provisioning import pod_manifest

pytestmark = pytest.mark.django_db

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


def _deployment(name: str, replicas: int, affinity: dict[str, Any]) -> dict[str, Any]:
    template = pod_manifest(name, cpu="500m", memory="512Mi", labels={"app": name})
    template["metadata"].pop("name")
    template.pop("apiVersion")
    template.pop("kind")
    template["spec"]["affinity"] = affinity
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
    }


def test_three_required_anti_affinity_replicas_run_on_three_nodes(nodeless, kube_client) -> None:
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    term = {"labelSelector": {"matchLabels": {"app": "api"}}, "topologyKey": HOST}
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    apps.create_namespaced_deployment("default", _deployment("api", 3, anti))

    def running() -> list[Any]:
        pods = nodeless.core.list_namespaced_pod("default", label_selector="app=api").items
        return [p for p in pods if p.status.phase == "Running"]

    nodeless.until(lambda: len(running()) == 3, timeout=120)
    assert len({p.spec.node_name for p in running()}) == 3
    client = nodeless.core.api_client
    nodes = [client.sanitize_for_serialization(n) for n in nodeless.core.list_node().items]
    pods = [client.sanitize_for_serialization(p) for p in nodeless.core.list_pod_for_all_namespaces().items]
    for pod in pods:
        if (pod["metadata"].get("labels") or {}).get("app") == "api":
            others = [p for p in pods if p["metadata"]["uid"] != pod["metadata"]["uid"]]
            assert placement_reasons(pod, pod["spec"]["nodeName"], nodes, others) == []


def test_a_pod_of_another_scheduler_is_never_touched(nodeless) -> None:
    manifest = pod_manifest("theirs", cpu="500m", memory="512Mi")
    manifest["spec"]["schedulerName"] = "my-custom-scheduler"
    nodeless.core.create_namespaced_pod("default", manifest)
    created = nodeless.pod("theirs")
    for _ in range(3):
        nodeless.reconcile()
    after = nodeless.pod("theirs")
    assert after.spec.node_name is None and not nodeless.rows()
    assert after.metadata.resource_version == created.metadata.resource_version


def test_zone_spread_replicas_run_balanced_over_zones(nodeless, kube_client) -> None:
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    spread = {
        "maxSkew": 1,
        "topologyKey": ZONE,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}},
    }
    manifest = _deployment("web", 4, {})
    manifest["spec"]["template"]["spec"].pop("affinity")
    manifest["spec"]["template"]["spec"]["topologySpreadConstraints"] = [spread]
    apps.create_namespaced_deployment("default", manifest)

    def running() -> list[Any]:
        pods = nodeless.core.list_namespaced_pod("default", label_selector="app=web").items
        return [p for p in pods if p.status.phase == "Running"]

    nodeless.until(lambda: len(running()) == 4, timeout=120)
    zones = {n.metadata.name: n.metadata.labels[ZONE] for n in nodeless.core.list_node().items}
    counts = Counter(zones[p.spec.node_name] for p in running())
    assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) >= 2
