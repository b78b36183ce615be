"""Kubeconfig clusters: accepted credential kinds, every failure with its own clear error, nothing
stored half-done, and the kubeconfig unreadable anywhere after creation."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from clusters.models import Cluster, ClusterHealth
from nodeless_saas.crypto import decrypt_text
from simulator.auth import READ_ONLY
from tests.fixtures.connections import kubeconfig_for
from workers.tasks import cluster_health_check

pytestmark = pytest.mark.django_db


def _connect(client, kubeconfig: str, **extra):
    return client.post(
        "/api/v1/clusters/",
        {"name": "dc1", "kubeconfig": kubeconfig, "labels": {"cloud": "onprem"}, **extra},
        content_type="application/json",
    )


@pytest.fixture
def onprem(simulated_cluster):
    from simulator.controllers.static_nodes import StaticNodePool

    return simulated_cluster(
        static_pools=(StaticNodePool("dc1-node", 3, instance_type="m5.xlarge"),),
        extra_tokens={"read-only-token-0123456789": READ_ONLY},
    )


def test_a_kubeconfig_cluster_is_connected_with_health_and_inventory(cast, onprem, owner_client) -> None:
    response = _connect(owner_client, kubeconfig_for(onprem))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["health"] == "healthy" and body["node_count"] == 3
    assert body["capacity"]["allocatable"]["cpu"] > 10  # three 4-vCPU nodes, minus reserve
    assert body["kubeconfig_context"] == "onprem" and "kubeconfig" not in body


def test_the_kubeconfig_is_not_readable_in_the_database_api_pages_or_logs(
    cast, onprem, owner_client, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    token = onprem.admin_token
    cluster_id = _connect(owner_client, kubeconfig_for(onprem)).json()["id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM clusters_cluster")
        assert token not in repr(cursor.fetchall())
    assert token in decrypt_text(Cluster.objects.get().kubeconfig_ciphertext)  # encrypted, not lost
    for url in (
        f"/api/v1/clusters/{cluster_id}/",
        "/api/v1/clusters/",
        f"/clusters/{cluster_id}/",
        "/clusters/",
        "/api/v1/audit-events/",
    ):
        assert token not in owner_client.get(url).content.decode()
    assert token not in caplog.text


def test_a_failed_form_submission_does_not_echo_the_kubeconfig(cast, onprem, owner_client) -> None:
    page = owner_client.post(
        "/clusters/connect/kubeconfig/",
        {
            "name": "dc1",
            "kubeconfig": kubeconfig_for(onprem, server="https://127.0.0.1:9"),
            "mode": "observe",
        },
    )
    assert (
        b"no Kubernetes API server answered" in page.content
        and onprem.admin_token.encode() not in page.content
    )


@pytest.mark.parametrize(
    ("make", "field", "words"),
    [
        (
            lambda c: kubeconfig_for(c, server="https://127.0.0.1:9"),
            "__all__",
            "no Kubernetes API server answered",
        ),
        (lambda c: kubeconfig_for(c, ca_pem=c.other_ca), "__all__", "certificate-authority-data"),
        (lambda c: kubeconfig_for(c, token="wrong-token-abcdefghijklmnop"), "__all__", "token rejected (401"),
        (lambda c: "clusters: [oops", "kubeconfig", "not valid YAML at line 1"),
        (
            lambda c: kubeconfig_for(c, user={"exec": {"command": "aws", "args": ["eks", "get-token"]}}),
            "kubeconfig",
            "exec plugin (aws)",
        ),
        (lambda c: kubeconfig_for(c, server="http://127.0.0.1:9"), "kubeconfig", "not an https:// URL"),
        (
            lambda c: kubeconfig_for(c, user={"client-certificate": "/home/me/.kube/cert.pem"}),
            "kubeconfig",
            "refers to files on your machine",
        ),
        (
            lambda c: kubeconfig_for(c, token="read-only-token-0123456789"),
            "__all__",
            "cannot create deployments.apps",
        ),
    ],
)
def test_each_failure_has_its_own_clear_error_and_stores_nothing(
    cast, onprem, owner_client, simulated_cluster, make, field, words
) -> None:
    onprem.other_ca = simulated_cluster().ca_pem
    response = _connect(owner_client, make(onprem))
    assert response.status_code == 400
    error = response.json()["error"]
    text = error["message"] if field == "__all__" else error["fields"][field][0]
    assert words in text, text
    assert not Cluster.objects.exists()


def test_a_read_only_kubeconfig_can_observe(cast, onprem, owner_client) -> None:
    response = _connect(owner_client, kubeconfig_for(onprem, token="read-only-token-0123456789"))
    # Observe mode still places federated workloads, so it needs write access to workloads.
    assert (
        response.status_code == 400
        and "cannot create deployments.apps" in response.json()["error"]["message"]
    )


def test_periodic_health_checks_record_an_outage_and_the_recovery(cast, onprem, owner_client) -> None:
    cluster_id = _connect(owner_client, kubeconfig_for(onprem)).json()["id"]
    onprem.stop()
    cluster_health_check(cluster_id)
    cluster = Cluster.objects.get(pk=cluster_id)
    assert cluster.health == ClusterHealth.UNREACHABLE
    assert "no Kubernetes API server answered" in cluster.health_problem
    assert cluster.last_healthy_at is not None and cluster.last_checked_at is not None
    assert cluster.last_checked_at > cluster.last_healthy_at


def test_mode_and_labels_are_editable_and_validated(cast, onprem, owner_client) -> None:
    cluster_id = _connect(owner_client, kubeconfig_for(onprem)).json()["id"]
    response = owner_client.patch(
        f"/api/v1/clusters/{cluster_id}/",
        {"labels": {"env": "prod", "bad key!": "x"}},
        content_type="application/json",
    )
    assert (
        response.status_code == 400
        and "not a valid label key" in response.json()["error"]["fields"]["labels"][0]
    )
    response = owner_client.patch(
        f"/api/v1/clusters/{cluster_id}/",
        {"labels": {"env": "prod", "zone": "dc1-a"}},
        content_type="application/json",
    )
    assert response.json()["labels"] == {"env": "prod", "zone": "dc1-a"}


def test_removing_a_cluster_leaves_the_cluster_itself_untouched(
    cast, onprem, owner_client, kube_client
) -> None:
    from kubernetes import client as k8s

    cluster_id = _connect(owner_client, kubeconfig_for(onprem)).json()["id"]
    assert owner_client.delete(f"/api/v1/clusters/{cluster_id}/").status_code == 204
    assert not Cluster.objects.exists()
    assert len(k8s.CoreV1Api(kube_client(onprem)).list_node().items) == 3
    cluster_health_check(cluster_id)  # a check enqueued before the removal finds nothing and stops
