"""End to end against the simulated cluster, on the rules that depend on a new node's instance type:
its DaemonSets (one only for arm64 takes nothing of an amd64 node) and how many EBS volumes its
CSINode lets kube-scheduler attach (a pod mounting more than a plain Nitro type attaches gets a type
that attaches them). Each pod ends Running where the simulator's scheduler put it, and the oracle
accepts the placement."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from engines.kube import labels as wk
from simulator.controllers.scheduling import placement_reasons
from simulator.controllers.volume_rules import VolumeWorld
from tests.fixtures.provisioning import pod_manifest

pytestmark = pytest.mark.django_db

EBS = "ebs.csi.aws.com"


def _running_on(nodeless: Any, name: str, timeout: float = 120) -> Any:
    nodeless.until(lambda: nodeless.pod(name).status.phase == "Running", timeout=timeout)
    return nodeless.core.read_node(nodeless.pod(name).spec.node_name)


def _arm_only_daemonset() -> dict[str, Any]:
    template = pod_manifest("agent", cpu="1500m", memory="64Mi", labels={"app": "agent"})
    template["metadata"].pop("name")
    template.pop("apiVersion")
    template.pop("kind")
    template["spec"]["nodeSelector"] = {wk.ARCH: "arm64"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "arm-agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template},
    }


def test_a_daemonset_only_for_arm64_leaves_an_amd64_node_whole(nodeless, kube_client) -> None:
    # Two-vCPU nodes only: with the arm64 agent's 1.5 CPU counted on every new node, no such node
    # could take a 1.7-CPU pod; counted only where it lands, an amd64 one can.
    nodeless.policy(
        architectures=["x86_64", "arm64"],
        capacity_types=["on_demand"],
        min_vcpu=2,
        max_vcpu=2,
        min_memory_gib=4,
    )
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    apps.create_namespaced_daemon_set("default", _arm_only_daemonset())
    nodeless.create_pod("arm", cpu="100m", memory="256Mi", node_selector={wk.ARCH: "arm64"})
    arm_node = _running_on(nodeless, "arm")

    def agents() -> dict[str, str]:
        pods = nodeless.core.list_namespaced_pod("default", label_selector="app=agent").items
        return {p.spec.node_name: p.status.phase for p in pods if p.spec.node_name}

    nodeless.until(lambda: agents().get(arm_node.metadata.name) == "Running")
    nodeless.create_pod("big", cpu="1700m", memory="1Gi")
    node = _running_on(nodeless, "big")
    assert node.metadata.labels[wk.ARCH] == "amd64" and node.metadata.name not in agents()
    assert nodeless.pod("big").status.phase == "Running"


def test_a_pod_mounting_thirty_volumes_gets_a_type_that_attaches_them(nodeless, kube_client) -> None:
    storage: Any = k8s.StorageV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    storage.create_storage_class(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "gp3"},
            "provisioner": EBS,
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    core: Any = nodeless.core
    names = [f"data-{i}" for i in range(30)]
    for name in names:
        core.create_namespaced_persistent_volume_claim(
            "default",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": name},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "gp3",
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
    manifest = pod_manifest("wide", cpu="500m", memory="512Mi")
    manifest["spec"]["volumes"] = [
        {"name": f"v{i}", "persistentVolumeClaim": {"claimName": name}} for i, name in enumerate(names)
    ]
    core.create_namespaced_pod("default", manifest)
    node = _running_on(nodeless, "wide", timeout=180)
    csi = storage.read_csi_node(node.metadata.name)
    assert csi.spec.drivers[0].allocatable.count >= 30  # a plain Nitro type attaches 26
    client = core.api_client
    raw = client.sanitize_for_serialization
    pods = [raw(p) for p in core.list_pod_for_all_namespaces().items]
    pod = next(p for p in pods if p["metadata"]["name"] == "wide")
    world = VolumeWorld.of(
        [raw(c) for c in core.list_persistent_volume_claim_for_all_namespaces().items],
        [raw(v) for v in core.list_persistent_volume().items],
        [raw(s) for s in storage.list_storage_class().items],
        [raw(c) for c in storage.list_csi_node().items],
    )
    nodes = [raw(n) for n in core.list_node().items]
    others = [p for p in pods if p["metadata"]["uid"] != pod["metadata"]["uid"]]
    assert placement_reasons(pod, pod["spec"]["nodeName"], nodes, others, world) == []
