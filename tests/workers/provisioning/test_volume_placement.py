"""End to end against the simulated cluster, whose API server serves claims, volumes and storage
classes and whose scheduler applies kube-scheduler's volume filters: a pod whose claim waits for its
first consumer gets a node in a zone its class allows, and a pod whose claim is bound to a zonal
volume gets a node in the volume's zone - both read by the product through its storage informer."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from simulator.controllers.scheduling import placement_reasons
from simulator.controllers.volume_rules import VolumeWorld
from tests.fixtures.provisioning import pod_manifest

pytestmark = pytest.mark.django_db

ZONE = "topology.kubernetes.io/zone"
EBS = "ebs.csi.aws.com"


def _claim(name: str, class_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": class_name,
            "resources": {"requests": {"storage": "10Gi"}},
        },
    }


def _user(name: str, claim: str) -> dict[str, Any]:
    manifest = pod_manifest(name, cpu="500m", memory="512Mi")
    manifest["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return manifest


def _running_where(nodeless: Any, name: str) -> tuple[Any, str]:
    nodeless.until(lambda: nodeless.pod(name).status.phase == "Running", timeout=120)
    pod = nodeless.pod(name)
    node = nodeless.core.read_node(pod.spec.node_name)
    return pod, node.metadata.labels[ZONE]


def _oracle_accepts(nodeless: Any, storage: Any, name: str) -> None:
    client = nodeless.core.api_client
    raw = client.sanitize_for_serialization
    nodes = [raw(n) for n in nodeless.core.list_node().items]
    pods = [raw(p) for p in nodeless.core.list_pod_for_all_namespaces().items]
    world = VolumeWorld.of(
        [raw(c) for c in nodeless.core.list_persistent_volume_claim_for_all_namespaces().items],
        [raw(v) for v in nodeless.core.list_persistent_volume().items],
        [raw(s) for s in storage.list_storage_class().items],
        [raw(c) for c in storage.list_csi_node().items],
    )
    pod = next(p for p in pods if p["metadata"]["name"] == name)
    others = [p for p in pods if p["metadata"]["uid"] != pod["metadata"]["uid"]]
    assert placement_reasons(pod, pod["spec"]["nodeName"], nodes, others, world) == []


def test_a_wait_for_first_consumer_claim_gets_a_node_in_its_class_zone(nodeless, kube_client) -> None:
    storage: Any = k8s.StorageV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    storage.create_storage_class(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "gp3-c"},
            "provisioner": EBS,
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowedTopologies": [{"matchLabelExpressions": [{"key": ZONE, "values": ["us-east-1c"]}]}],
        }
    )
    core: Any = nodeless.core
    core.create_namespaced_persistent_volume_claim("default", _claim("data", "gp3-c"))
    core.create_namespaced_pod("default", _user("db", "data"))
    _, zone = _running_where(nodeless, "db")
    assert zone == "us-east-1c"
    # The PV controller writes the claim's volumeName (what the scheduler waits for before it binds
    # the pod), then its status in a second write: a running pod's claim may still say Pending.
    nodeless.until(
        lambda: core.read_namespaced_persistent_volume_claim("data", "default").status.phase == "Bound"
    )
    claim = core.read_namespaced_persistent_volume_claim("data", "default")
    volume = core.read_persistent_volume(claim.spec.volume_name)
    term = volume.spec.node_affinity.required.node_selector_terms[0]
    assert term.match_expressions[0].values == ["us-east-1c"]
    _oracle_accepts(nodeless, storage, "db")


def test_a_claim_bound_to_a_zonal_volume_gets_a_node_in_the_volumes_zone(nodeless, kube_client) -> None:
    storage: Any = k8s.StorageV1Api(kube_client(nodeless.sim))
    storage.create_storage_class(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "manual"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
        }
    )
    core: Any = nodeless.core
    term = {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["us-east-1b"]}]}
    core.create_persistent_volume(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "old-disk"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "capacity": {"storage": "10Gi"},
                "storageClassName": "manual",
                "csi": {"driver": EBS, "volumeHandle": "vol-0123456789abcdef0"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}},
            },
        }
    )
    core.create_namespaced_persistent_volume_claim("default", _claim("data", "manual"))
    nodeless.until(
        lambda: core.read_namespaced_persistent_volume_claim("data", "default").status.phase == "Bound",
        timeout=60,
    )
    core.create_namespaced_pod("default", _user("pg", "data"))
    _, zone = _running_where(nodeless, "pg")
    assert zone == "us-east-1b"
    _oracle_accepts(nodeless, storage, "pg")
