"""Connecting and checking a cluster happen in a worker, within one deadline: no request waits on the
customer's network, the page and the API show the check's progress and then its outcome, a second
ask while a check is in flight is answered by it, and a cluster removed meanwhile ends the check
quietly.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clusters import services
from clusters.models import Cluster, ClusterObservation, ClusterStatus
from clusters.selectors import CHECK_STALE_SECONDS
from tenants.races import race_message
from tests.fixtures.connections import kubeconfig_for
from tests.fixtures.pages import get_page
from tests.workers.federation.partition import Partition
from workers.enqueue import cluster_check_queued_key

pytestmark = pytest.mark.django_db

CHECK = "workers.tasks.cluster_check"


@pytest.fixture
def silent_port() -> Iterator[socket.socket]:
    """A port that accepts TCP and never speaks TLS (a listener nobody reads from)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    listener.settimeout(0)  # non-blocking: accept() says at once whether anyone connected
    yield listener
    listener.close()


def _post_connect(client, worker, kubeconfig: str, name: str = "dc1"):
    with worker.committing():
        return client.post(
            "/api/v1/clusters/", {"name": name, "kubeconfig": kubeconfig}, content_type="application/json"
        )


def _connection_attempted(listener: socket.socket) -> bool:
    try:
        accepted, _ = listener.accept()
    except BlockingIOError:
        return False
    accepted.close()
    return True


def test_a_silent_tls_port_does_not_hold_the_request(
    cast, owner_client, simulated_cluster, worker, silent_port
):
    server = f"https://127.0.0.1:{silent_port.getsockname()[1]}"
    response = _post_connect(owner_client, worker, kubeconfig_for(simulated_cluster(), server=server))

    assert response.status_code == 202
    assert (response.json()["status"], response.json()["check_step"]) == ("connecting", "queued")
    assert not _connection_attempted(silent_port)  # the request answered without calling the server
    assert worker.sent == [(CHECK, (response.json()["id"],))]

    worker.run()
    assert _connection_attempted(silent_port)  # the worker did
    cluster = Cluster.objects.get()
    assert cluster.status == ClusterStatus.FAILED and cluster.check_started_at is None
    assert cluster.health_problem.startswith(f"no Kubernetes API server answered at {server}")


def test_the_page_shows_the_progress_and_then_the_outcome(cast, owner_client, simulated_cluster, worker):
    with worker.committing():
        page = owner_client.post(
            "/clusters/connect/kubeconfig/",
            {"name": "dc1", "kubeconfig": kubeconfig_for(simulated_cluster()), "mode": "observe"},
        )
    cluster = Cluster.objects.get()
    assert page["Location"] == reverse("cluster-detail", args=[cluster.pk])
    status_url = reverse("cluster-status", args=[cluster.pk])

    html = get_page(owner_client, page["Location"], queries=5).content.decode()
    assert 'id="cluster-check-progress"' in html and "Connecting" in html
    assert "→ Waiting for a worker" in html and "Listing nodes and pods" in html
    panel = get_page(owner_client, status_url, queries=7).content.decode()
    assert 'hx-trigger="every 2s"' in panel and "cluster-check-progress" in panel

    worker.run()
    panel = get_page(owner_client, status_url, queries=7).content.decode()
    assert "cluster-check-progress" not in panel and 'hx-trigger="every 15s"' in panel
    assert ">Healthy<" in panel and ">Check now " in panel


def test_a_failed_connection_is_shown_and_can_be_tried_again(
    cast, owner_client, simulated_cluster, worker, silent_port
):
    onprem = simulated_cluster()
    server = f"https://127.0.0.1:{silent_port.getsockname()[1]}"
    cluster_id = _post_connect(owner_client, worker, kubeconfig_for(onprem, server=server)).json()["id"]
    worker.run()
    panel = owner_client.get(reverse("cluster-status", args=[cluster_id])).content.decode()
    assert "Could not connect: no Kubernetes API server answered" in panel and ">Try again " in panel

    with worker.committing():
        retried = owner_client.post(f"/api/v1/clusters/{cluster_id}/health/")
    assert retried.status_code == 202 and retried.json()["status"] == "connecting"
    assert worker.sent == [(CHECK, (cluster_id,))]


def test_outsiders_get_404_from_the_status_panel_and_the_api(
    cast, owner_client, outsider_client, api_b, simulated_cluster, worker
):
    cluster_id = _post_connect(owner_client, worker, kubeconfig_for(simulated_cluster())).json()["id"]
    assert outsider_client.get(reverse("cluster-status", args=[cluster_id])).status_code == 404
    assert api_b.get(f"/api/v1/clusters/{cluster_id}/").status_code == 404
    assert api_b.post(f"/api/v1/clusters/{cluster_id}/health/").status_code == 404


def test_a_second_ask_while_a_check_is_in_flight_is_answered_by_it(
    cast, owner_client, simulated_cluster, worker
):
    cluster_id = _post_connect(owner_client, worker, kubeconfig_for(simulated_cluster())).json()["id"]
    worker.run()
    with worker.committing():
        first = owner_client.post(f"/api/v1/clusters/{cluster_id}/health/")
        second = owner_client.post(f"/api/v1/clusters/{cluster_id}/health/")
    assert first.status_code == second.status_code == 202
    assert first.json()["check_started_at"] == second.json()["check_started_at"] is not None
    assert worker.run() == [CHECK]  # one check for both asks
    assert owner_client.get(f"/api/v1/clusters/{cluster_id}/").json()["check_started_at"] is None


def test_two_asks_before_the_worker_starts_queue_one_check(cast, simulated_cluster, worker):
    cluster = Cluster.objects.create(organization=cast.org_a, name="dc1", connection="kubeconfig")
    cache.delete(cluster_check_queued_key(str(cluster.pk)))
    with worker.committing():
        services.cluster_check_request(cast.org_a, cluster=cluster)
        cluster.check_started_at = None  # a second request that read the row before the first wrote
        services.cluster_check_request(cast.org_a, cluster=cluster)
    assert worker.sent == [(CHECK, (str(cluster.pk),))]
    worker.run()


def test_a_cluster_removed_while_its_check_runs_ends_the_check_quietly(
    cast, owner_client, simulated_cluster, worker, monkeypatch
):
    from clusters.services.health import probe_cluster as probe

    cluster_id = _post_connect(owner_client, worker, kubeconfig_for(simulated_cluster())).json()["id"]

    def probe_then_removed(cluster, **options):
        result = probe(cluster, **options)
        assert owner_client.delete(f"/api/v1/clusters/{cluster_id}/").status_code == 204
        return result

    monkeypatch.setattr("clusters.services.checks.probe_cluster", probe_then_removed)
    assert worker.run() == [CHECK]
    assert not Cluster.objects.filter(pk=cluster_id).exists()
    assert not ClusterObservation.objects.filter(cluster_id=cluster_id).exists()
    assert services.cluster_check_run(cluster_id) is None  # a check sent before the removal, too


def test_asking_for_a_check_of_a_cluster_removed_meanwhile_is_a_409_race(cast, simulated_cluster):
    cluster = Cluster.objects.create(organization=cast.org_a, name="dc1", connection="kubeconfig")
    Cluster.objects.filter(pk=cluster.pk).delete()  # by another request, after this one loaded it
    with pytest.raises(DatabaseError) as lost:
        services.cluster_check_request(cast.org_a, cluster=cluster)
    assert "deleted by another request" in (race_message(lost.value) or "")


class SlowLink(Partition):
    """A link to the API server on which every answer arrives `delay` seconds late: each call well
    within its own timeouts, all of them together well past a check's deadline."""

    delay = 0.4

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        if source.getpeername() != self.upstream:
            super()._pump(source, target)
            return
        delayed = _Delayed(target, self.delay)
        super()._pump(source, delayed)  # type: ignore[arg-type]


class _Delayed:
    def __init__(self, target: socket.socket, delay: float) -> None:
        self.target, self.delay = target, delay

    def sendall(self, chunk: bytes) -> None:
        time.sleep(self.delay)
        self.target.sendall(chunk)

    def shutdown(self, how: int) -> None:
        self.target.shutdown(how)

    def close(self) -> None:
        self.target.close()


def test_a_server_that_answers_every_call_just_in_time_fails_at_the_checks_deadline(
    cast, owner_client, simulated_cluster, worker, monkeypatch
):
    from clusters.services import checks

    onprem = simulated_cluster()
    link = SlowLink(int(onprem.url.rsplit(":", 1)[1]))
    try:
        monkeypatch.setattr(checks, "CHECK_SECONDS", 2)  # a dozen calls, 0.4 s late each
        cluster_id = _post_connect(owner_client, worker, kubeconfig_for(onprem, server=link.url)).json()["id"]
        worker.run()
    finally:
        link.stop()
    cluster = Cluster.objects.get(pk=cluster_id)
    assert cluster.status == ClusterStatus.FAILED
    assert cluster.health_problem.startswith(f"no Kubernetes API server answered at {link.url}")


def test_a_check_overtaken_by_new_credentials_leaves_the_outcome_to_the_next_one(
    cast, owner_client, simulated_cluster, worker, monkeypatch
):
    from clusters.services.health import probe_cluster as probe
    from tenants.actors import Actor

    onprem = simulated_cluster()
    stale = kubeconfig_for(onprem, token="revoked-token-abcdefghijklmnop")
    cluster_id = _post_connect(owner_client, worker, stale).json()["id"]
    outcomes: list[str] = []
    seen: list[tuple[str, str]] = []

    def probe_and_rotate_once(cluster, **options):
        seen.append(Cluster.objects.values_list("status", "health_problem").get(pk=cluster_id))
        result = probe(cluster, **options)
        if not outcomes:  # the first check, with the revoked token: the owner rotates it meanwhile
            with worker.committing():
                services.cluster_replace_kubeconfig(
                    cast.org_a,
                    cluster=Cluster.objects.get(pk=cluster_id),
                    actor=Actor(user=cast.alice),
                    kubeconfig=kubeconfig_for(onprem),
                )
        outcomes.append(result.problem)
        return result

    monkeypatch.setattr("clusters.services.checks.probe_cluster", probe_and_rotate_once)
    assert worker.run() == [CHECK, CHECK]  # the overtaken check, then the one the rotation asked for
    assert "token rejected" in outcomes[0] and outcomes[1] == ""
    assert seen[1] == ("connecting", "")  # the overtaken check recorded nothing of its 401
    cluster = Cluster.objects.get(pk=cluster_id)
    assert cluster.status == ClusterStatus.CONNECTED and cluster.health_problem == ""


def test_a_check_stopped_by_the_tasks_time_limit_reads_as_no_answer(
    cast, owner_client, simulated_cluster, worker, monkeypatch
):
    """In a prefork worker Celery's soft limit raises inside the task, wherever the check is; that is
    raised here at the same place, since only a forked worker delivers the signal."""
    from celery.exceptions import SoftTimeLimitExceeded

    onprem = simulated_cluster()
    cluster_id = _post_connect(owner_client, worker, kubeconfig_for(onprem)).json()["id"]

    def stopped(cluster, **options):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr("clusters.services.checks.probe_cluster", stopped)
    assert worker.run() == [CHECK]
    cluster = Cluster.objects.get(pk=cluster_id)
    assert cluster.status == ClusterStatus.FAILED and cluster.check_started_at is None
    assert cluster.health_problem.startswith(f"no Kubernetes API server answered at {onprem.url}")


def test_a_check_whose_worker_died_can_be_asked_for_again(cast, owner_client, worker):
    lost = timezone.now() - timedelta(seconds=CHECK_STALE_SECONDS + 5)
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="dc1",
        connection="kubeconfig",
        check_started_at=lost,
        check_step="probing",
    )
    cache.delete(cluster_check_queued_key(str(cluster.pk)))
    panel = owner_client.get(reverse("cluster-status", args=[cluster.pk])).content.decode()
    assert "did not finish" in panel and ">Check now " in panel

    with worker.committing():
        asked = owner_client.post(f"/api/v1/clusters/{cluster.pk}/health/").json()
    asked_at = parse_datetime(asked["check_started_at"])
    assert asked["check_step"] == "queued" and asked_at is not None and asked_at > lost
    assert worker.sent == [(CHECK, (str(cluster.pk),))]
