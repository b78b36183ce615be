"""What the provisioning loop writes to a cluster is what a careful controller writes to a real API
server: node taints change by a patch conditional on the resourceVersion read (a taint someone else
adds meanwhile survives), and a pending pod only gains tolerations, the pod that was planned (uid)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s

from clusters.models import Cluster, ClusterConnection
from nodeless_saas.crypto import encrypt_text
from tests.fixtures.connections import kubeconfig_for
from workers.provisioning.context import kube_ops_for
from workers.provisioning.pods import INITIALIZING_TAINT

pytestmark = pytest.mark.django_db

OTHER = {"key": "example.com/maintenance", "value": "soon", "effect": "NoSchedule"}


def _ops(cast: Any, sim: Any) -> Any:
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="onprem",
        connection=ClusterConnection.KUBECONFIG,
        kubeconfig_ciphertext=encrypt_text(kubeconfig_for(sim)),
        kubeconfig_context="onprem",
    )
    return kube_ops_for(cluster)


def _node(core: Any, name: str) -> None:
    core.create_node(
        {
            "metadata": {"name": name},
            "spec": {"taints": [{"key": INITIALIZING_TAINT, "value": "r1", "effect": "NoSchedule"}]},
        }
    )


def test_a_taint_added_concurrently_survives_lifting_ours(cast, simulated_cluster, kube_client) -> None:
    sim = simulated_cluster()
    core: Any = k8s.CoreV1Api(kube_client(sim))  # Any: the typed client returns Optional fields
    _node(core, "n1")
    ops = _ops(cast, sim)
    request, patches = ops.api.request, []

    def racing(method: str, path: str, **options: Any) -> Any:
        if method == "PATCH":
            patches.append(path)
        answer = request(method, path, **options)
        if method == "GET" and not patches:  # someone else taints the node between our read and write
            node = core.read_node("n1")
            core.patch_node("n1", {"spec": {"taints": [*(t.to_dict() for t in node.spec.taints), OTHER]}})
        return answer

    ops.api.request = racing
    ops.remove_taint("n1", INITIALIZING_TAINT)

    taints = [(t.key, t.value, t.effect) for t in core.read_node("n1").spec.taints]
    assert taints == [(OTHER["key"], OTHER["value"], OTHER["effect"])]
    assert len(patches) == 2  # the first write was refused (409), the second sent after a fresh read


def test_lifting_a_taint_the_node_no_longer_has_writes_nothing(cast, simulated_cluster, kube_client) -> None:
    sim = simulated_cluster()
    core: Any = k8s.CoreV1Api(kube_client(sim))  # Any: the typed client returns Optional fields
    _node(core, "n1")
    ops = _ops(cast, sim)
    ops.remove_taint("n1", INITIALIZING_TAINT)
    version = core.read_node("n1").metadata.resource_version
    ops.remove_taint("n1", INITIALIZING_TAINT)
    ops.remove_taint("gone", INITIALIZING_TAINT)
    assert core.read_node("n1").metadata.resource_version == version


def test_a_pending_pod_gains_only_the_tolerations_and_only_if_it_is_the_same_pod(
    cast, simulated_cluster, kube_client
) -> None:
    sim = simulated_cluster()
    core: Any = k8s.CoreV1Api(kube_client(sim))  # Any: the typed client returns Optional fields
    pod = core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"schedulerName": "nobody", "containers": [{"name": "c", "image": "nginx"}]},
        },
    )
    ops = _ops(cast, sim)
    toleration = {"key": INITIALIZING_TAINT, "operator": "Equal", "value": "r1", "effect": "NoSchedule"}
    assert not ops.tolerate("default", "web", "another-uid", [toleration])
    assert ops.tolerate("default", "web", pod.metadata.uid, [toleration])
    after = core.read_namespaced_pod("web", "default")
    keys = [t.key for t in after.spec.tolerations]
    assert keys.count(INITIALIZING_TAINT) == 1 and len(keys) == len(pod.spec.tolerations) + 1
    assert after.spec.containers[0].image == "nginx"
