"""Kubeconfig clusters: accepted credential kinds, every failure with its own clear error (a kubeconfig
we cannot use is refused at once; a cluster that does not answer as it must fails to connect in the
worker, out of service), and the kubeconfig unreadable anywhere after creation."""

from __future__ import annotations

import logging
import re

import pytest
from django.db import connection

from clusters.models import Cluster, ClusterHealth, ClusterObservation
from clusters.selectors import connected_cluster_ids
from nodeless_saas.crypto import decrypt_text
from simulator.auth import READ_ONLY, PermissionSet, PolicyRule
from tests.fixtures.connections import kubeconfig_for
from workers.tasks import cluster_health_check

pytestmark = pytest.mark.django_db


def _connect(client, kubeconfig: str, **extra):
    return client.post(
        "/api/v1/clusters/",
        {"name": "dc1", "kubeconfig": kubeconfig, "labels": {"cloud": "onprem"}, **extra},
        content_type="application/json",
    )


def _connected(worker, client, kubeconfig: str, **extra) -> dict:
    """Connect, let the worker verify the cluster, and read it back as a client polling it would."""
    with worker.committing():
        response = _connect(client, kubeconfig, **extra)
    assert response.status_code == 202, response.json()
    assert worker.run() == ["workers.tasks.cluster_check"]
    body: dict = client.get(response["Location"]).json()
    return body


@pytest.fixture
def onprem(simulated_cluster):
    from simulator.controllers.static_nodes import StaticNodePool

    return simulated_cluster(
        static_pools=(StaticNodePool("dc1-node", 3, instance_type="m5.xlarge"),),
        extra_tokens={"read-only-token-0123456789": READ_ONLY, "placing-token-0123456789": PLACING},
    )


# What an observe-mode cluster needs and no more: kube's view role, and writes of what is placed.
PLACING = PermissionSet(
    "placing",
    (
        *READ_ONLY.rules,
        PolicyRule.of(["create", "patch", "delete"], ["apps", "batch"], ["deployments", "jobs"]),
        PolicyRule.of(["create"], [""], ["configmaps", "secrets", "services"]),
    ),
)


def test_a_kubeconfig_cluster_is_connected_with_health_and_inventory(
    cast, onprem, owner_client, worker
) -> None:
    with worker.committing():
        response = _connect(owner_client, kubeconfig_for(onprem))
    assert response.status_code == 202, response.json()
    asked = response.json()
    assert (asked["status"], asked["health"], asked["check_step"]) == ("connecting", "unknown", "queued")
    assert response["Location"] == f"/api/v1/clusters/{asked['id']}/"
    assert worker.sent == [("workers.tasks.cluster_check", (asked["id"],))]
    worker.run()
    body = owner_client.get(response["Location"]).json()
    assert body["status"] == "connected" and body["check_started_at"] is None
    assert body["health"] == "healthy" and body["node_count"] == 3
    assert body["capacity"]["allocatable"]["cpu"] > 10  # three 4-vCPU nodes, minus reserve
    assert body["kubeconfig_context"] == "onprem" and "kubeconfig" not in body


def test_the_kubeconfig_is_not_readable_in_the_database_api_pages_or_logs(
    cast, onprem, owner_client, caplog, worker
) -> None:
    caplog.set_level(logging.DEBUG)
    token = onprem.admin_token
    cluster_id = _connected(worker, owner_client, kubeconfig_for(onprem))["id"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM clusters_cluster")
        assert token not in repr(cursor.fetchall())
    assert token in decrypt_text(Cluster.objects.get().kubeconfig_ciphertext)  # encrypted, not lost
    for url in (
        f"/api/v1/clusters/{cluster_id}/",
        "/api/v1/clusters/",
        f"/clusters/{cluster_id}/",
        f"/clusters/{cluster_id}/status/",
        "/clusters/",
        "/api/v1/audit-events/",
    ):
        assert token not in owner_client.get(url).content.decode()
    assert token not in caplog.text


def test_a_failed_connection_does_not_echo_the_kubeconfig(cast, onprem, owner_client, worker) -> None:
    with worker.committing():
        page = owner_client.post(
            "/clusters/connect/kubeconfig/",
            {
                "name": "dc1",
                "kubeconfig": kubeconfig_for(onprem, server="https://127.0.0.1:9"),
                "mode": "observe",
            },
        )
    cluster = Cluster.objects.get()
    assert page.status_code == 302 and page["Location"] == f"/clusters/{cluster.pk}/"
    worker.run()
    page = owner_client.get(page["Location"])
    assert b"Could not connect: no Kubernetes API server answered" in page.content
    assert onprem.admin_token.encode() not in page.content


def test_a_kubeconfig_we_cannot_use_is_refused_at_once_in_the_form(
    cast, onprem, owner_client, worker
) -> None:
    with worker.committing():
        page = owner_client.post(
            "/clusters/connect/kubeconfig/",
            {
                "name": "dc1",
                "kubeconfig": kubeconfig_for(onprem, server="http://127.0.0.1:9"),
                "mode": "observe",
            },
        )
    assert page.status_code == 200 and b"not an https:// URL" in page.content
    # The form comes back with what was pasted (the token is in it: this one response goes to the
    # person who sent it, and no cache keeps it), so fixing the server does not mean pasting again.
    assert onprem.admin_token.encode() in page.content
    assert "no-store" in page["Cache-Control"]
    assert not Cluster.objects.exists() and worker.sent == []


def test_the_kubeconfig_form_shows_every_problem_at_once_and_keeps_what_was_typed(
    cast, onprem, owner_client, worker, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    with worker.committing():
        page = owner_client.post(
            "/clusters/connect/kubeconfig/",
            {
                "name": "dc1",
                "kubeconfig": kubeconfig_for(onprem, server="http://127.0.0.1:9"),
                "mode": "observe",
                "labels": "env=prod, team",
            },
        )
    html = page.content.decode()
    assert page.status_code == 200
    assert "not an https:// URL" in html and "&#x27;team&#x27; needs a value: write key=value." in html
    assert 'value="env=prod, team"' in html and 'value="dc1"' in html
    assert onprem.admin_token not in caplog.text  # kept in the page, never in a log
    assert not Cluster.objects.exists() and worker.sent == []


def test_an_uploaded_kubeconfig_comes_back_as_text_when_the_form_has_errors(
    cast, onprem, owner_client, worker
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("config", kubeconfig_for(onprem).encode(), content_type="text/plain")
    with worker.committing():
        page = owner_client.post(
            "/clusters/connect/kubeconfig/",
            {"name": "dc1", "kubeconfig_file": upload, "mode": "observe", "labels": "=x"},
        )
    assert page.status_code == 200 and onprem.admin_token.encode() in page.content  # in the box
    assert not Cluster.objects.exists()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda c: "clusters: [oops", "not valid YAML at line 1"),
        (
            lambda c: kubeconfig_for(c, user={"exec": {"command": "aws", "args": ["eks", "get-token"]}}),
            "exec plugin (aws)",
        ),
        (lambda c: kubeconfig_for(c, server="http://127.0.0.1:9"), "not an https:// URL"),
        (
            lambda c: kubeconfig_for(c, user={"client-certificate": "/home/me/.kube/cert.pem"}),
            "refers to files on your machine",
        ),
    ],
)
def test_a_kubeconfig_we_cannot_use_is_refused_at_once_and_stores_nothing(
    cast, onprem, owner_client, worker, make, words
) -> None:
    with worker.committing():
        response = _connect(owner_client, make(onprem))
    assert response.status_code == 400
    assert words in response.json()["error"]["fields"]["kubeconfig"][0]
    assert not Cluster.objects.exists() and worker.sent == []


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda c: kubeconfig_for(c, server="https://127.0.0.1:9"), "no Kubernetes API server answered"),
        (lambda c: kubeconfig_for(c, ca_pem=c.other_ca), "certificate-authority-data"),
        (lambda c: kubeconfig_for(c, token="wrong-token-abcdefghijklmnop"), "token rejected (401"),
        # Observe mode still places federated workloads, so it needs write access to workloads.
        (lambda c: kubeconfig_for(c, token="read-only-token-0123456789"), "cannot create deployments.apps"),
    ],
)
def test_a_cluster_that_does_not_answer_as_it_must_fails_to_connect_with_a_clear_reason(
    cast, onprem, owner_client, simulated_cluster, worker, make, words
) -> None:
    onprem.other_ca = simulated_cluster().ca_pem
    body = _connected(worker, owner_client, make(onprem))
    assert body["status"] == "failed" and body["check_started_at"] is None
    assert words in body["health_problem"], body["health_problem"]
    assert not ClusterObservation.objects.filter(cluster_id=body["id"], problem="").exists()
    assert body["id"] not in connected_cluster_ids()  # out of service: no loop reads it


def test_periodic_health_checks_record_an_outage(cast, onprem, owner_client, worker) -> None:
    cluster_id = _connected(worker, owner_client, kubeconfig_for(onprem))["id"]
    onprem.stop()
    cluster_health_check(cluster_id)
    cluster = Cluster.objects.get(pk=cluster_id)
    assert cluster.health == ClusterHealth.UNREACHABLE
    assert "no Kubernetes API server answered" in cluster.health_problem
    assert cluster.last_healthy_at is not None and cluster.last_checked_at is not None
    assert cluster.last_checked_at > cluster.last_healthy_at


def test_mode_and_labels_are_editable_and_validated(cast, onprem, owner_client, worker) -> None:
    cluster_id = _connected(worker, owner_client, kubeconfig_for(onprem))["id"]
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
    cast, onprem, owner_client, kube_client, worker
) -> None:
    from kubernetes import client as k8s

    cluster_id = _connected(worker, owner_client, kubeconfig_for(onprem))["id"]
    assert owner_client.delete(f"/api/v1/clusters/{cluster_id}/").status_code == 204
    assert not Cluster.objects.exists()
    assert len(k8s.CoreV1Api(kube_client(onprem)).list_node().items) == 3
    cluster_health_check(cluster_id)  # a check enqueued before the removal finds nothing and stops


def test_what_only_kubectl_through_nodeless_needs_is_listed_apart_and_leaves_the_cluster_healthy(
    cast, onprem, owner_client, worker
) -> None:
    body = _connected(worker, owner_client, kubeconfig_for(onprem, token="placing-token-0123456789"))
    assert (body["status"], body["health"], body["health_problem"]) == ("connected", "healthy", "")
    panel = owner_client.get(f"/clusters/{body['id']}/status/").content.decode()
    optional = panel.split('id="kubectl-permissions"', 1)[1]
    assert "For kubectl through Nodeless (optional): 2 not granted" in optional
    rows = re.findall(
        r'<td class="mono small">([^<]+)</td><td class="small">([^<]+)</td><td><span class="badge (\w+)"',
        optional,
    )
    assert rows == [
        ("get pods/log", "kubectl logs", "ok"),
        ("delete pods", "kubectl delete pod", "warn"),
        ("list events", "kubectl describe pod, kubectl get events", "ok"),
        ("list pods.metrics.k8s.io", "kubectl top pod", "ok"),
        ("create pods/exec", "kubectl exec", "warn"),
    ]
    required = panel.split('id="kubectl-permissions"', 1)[0]
    assert "create deployments.apps" in required and "pods/exec" not in required
