"""The simulated resource metrics API (metrics.k8s.io/v1beta1), as metrics-server serves it: read
by the official client, by `kubectl top`, and by the product's metering reader."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from billing.services.samples import container_usage_from_metrics
from simulator.auth import READ_ONLY
from simulator.controllers.static_nodes import StaticNodePool
from simulator.descriptor import ClusterDescriptor, write_kubeconfig
from simulator.metrics import USAGE_ANNOTATION
from tests.fixtures.simulation import kube_api, wait_for

READER = "metrics-reader-token"
GROUP, VERSION = "metrics.k8s.io", "v1beta1"


def _pod(name: str, *, cpu: str, memory: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}, "annotations": annotations or {}},
        "spec": {
            "containers": [
                {"name": "main", "image": "app:1", "resources": {"requests": {"cpu": cpu, "memory": memory}}},
                {
                    "name": "sidecar",
                    "image": "proxy:1",
                    "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}},
                },
            ]
        },
    }


@pytest.fixture
def cluster(simulated_cluster):
    return simulated_cluster(
        static_pools=(StaticNodePool("node", 1, "m5.large"),),
        pod_start_delay=0.2,
        extra_tokens={READER: READ_ONLY},
    )


def test_running_pods_and_nodes_have_metrics_pending_ones_do_not(cluster, kube_client) -> None:
    core = kube_api(kube.CoreV1Api, kube_client(cluster))
    measured = json.dumps(
        {"main": {"cpu": "250m", "memory": "300Mi"}, "sidecar": {"cpu": "5m", "memory": "20Mi"}}
    )
    core.create_namespaced_pod(
        "default", _pod("web", cpu="500m", memory="512Mi", annotations={USAGE_ANNOTATION: measured})
    )
    core.create_namespaced_pod("default", _pod("api", cpu="200m", memory="256Mi"))
    core.create_namespaced_pod("default", _pod("huge", cpu="64", memory="1Ti"))  # never fits: stays pending
    wait_for(
        lambda: all(core.read_namespaced_pod(n, "default").status.phase == "Running" for n in ("web", "api"))
    )

    metrics = kube_api(kube.CustomObjectsApi, kube_client(cluster, READER))  # view may read metrics
    listed = metrics.list_namespaced_custom_object(GROUP, VERSION, "default", "pods")
    assert listed["kind"] == "PodMetricsList"
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == ["api", "web"]
    web = metrics.get_namespaced_custom_object(GROUP, VERSION, "default", "pods", "web")
    assert web["window"] and web["timestamp"]
    assert web["containers"] == [
        {"name": "main", "usage": {"cpu": "250000000n", "memory": "307200Ki"}},
        {"name": "sidecar", "usage": {"cpu": "5000000n", "memory": "20480Ki"}},
    ]
    # Without a declared usage, a share of the request, below it.
    usage = container_usage_from_metrics(listed)[("default", "api")]
    assert 0 < usage["main"].cpu < 0.2 and 0 < usage["main"].memory_gib < 0.25
    with pytest.raises(ApiException) as missing:
        metrics.get_namespaced_custom_object(GROUP, VERSION, "default", "pods", "huge")
    assert missing.value.status == 404
    assert (
        len(
            metrics.list_namespaced_custom_object(
                GROUP, VERSION, "default", "pods", label_selector="app=web"
            )["items"]
        )
        == 1
    )
    nodes = metrics.list_cluster_custom_object(GROUP, VERSION, "nodes")
    assert nodes["kind"] == "NodeMetricsList" and [n["metadata"]["name"] for n in nodes["items"]] == [
        "node-0"
    ]
    node_cpu = int(nodes["items"][0]["usage"]["cpu"].removesuffix("n"))
    assert node_cpu > 250_000_000 + 5_000_000  # the pods' use plus the system's

    # Read-only: no writes, no watch (metrics-server serves get and list).
    with pytest.raises(ApiException) as refused:
        metrics.create_namespaced_custom_object(
            GROUP, VERSION, "default", "pods", {"metadata": {"name": "x"}}
        )
    assert refused.value.status in (403, 405)
    discovery = kube_api(kube.ApisApi, kube_client(cluster)).get_api_versions()
    assert "metrics.k8s.io" in [group.name for group in discovery.groups]


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_top_reads_the_simulated_metrics(cluster, kube_client, tmp_path: Path) -> None:
    core = kube_api(kube.CoreV1Api, kube_client(cluster))
    core.create_namespaced_pod(
        "default",
        _pod(
            "web",
            cpu="500m",
            memory="512Mi",
            annotations={USAGE_ANNOTATION: json.dumps({"main": {"cpu": "250m", "memory": "300Mi"}})},
        ),
    )
    wait_for(lambda: core.read_namespaced_pod("web", "default").status.phase == "Running")
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(
        kubeconfig,
        (
            ClusterDescriptor(
                "sim", "static", "onprem", "onprem", cluster.url, cluster.ca_pem, cluster.admin_token, ""
            ),
        ),
    )

    def top(*args: str) -> str:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "--context", "sim", "top", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    pods = top("pod", "--containers").splitlines()
    assert pods[0].split()[:4] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert ["web", "main", "250m", "300Mi"] in [line.split() for line in pods[1:]]
    assert top("node").splitlines()[1].split()[0] == "node-0"
