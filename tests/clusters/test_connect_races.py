"""Races between requests end as 409 or success, never 500: the database referees what the services'
checks cannot (two connects of one name pass the name check together; a row is deleted while a
request works on it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from clusters.models import CloudAccount, Cluster, ClusterConnection
from tests.fixtures.connections import kubeconfig_for

pytestmark = pytest.mark.django_db(transaction=True)


def _someone_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() "
            "AND datname = current_database()"
        )
        (waiting,) = cursor.fetchone()
    return bool(waiting)


def _other_request(write: Callable[[], object]) -> threading.Thread:
    """Another request's transaction: it writes first and commits only once the request under test
    waits on its lock, so the request's checks saw the world before the write and its own write
    comes after it — the race, made to happen every time."""

    written = threading.Event()

    def run() -> None:
        try:
            with transaction.atomic():
                write()
                written.set()
                deadline = time.monotonic() + 60
                while not _someone_waits_on_a_lock() and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert written.wait(30), "the other request did not write"
    return thread


def test_two_connects_of_one_name_make_one_cluster_and_a_409(
    cast, simulated_cluster, owner_client, worker
) -> None:
    onprem = simulated_cluster()
    other = _other_request(
        lambda: Cluster.objects.create(
            organization=cast.org_a, name="dc1", connection=ClusterConnection.KUBECONFIG
        )
    )
    response = owner_client.post(
        "/api/v1/clusters/",
        {"name": "dc1", "kubeconfig": kubeconfig_for(onprem)},
        content_type="application/json",
    )
    other.join(70)
    assert response.status_code == 409, response.content
    assert "choose another name" in response.json()["error"]["message"]
    assert Cluster.objects.filter(organization=cast.org_a, name="dc1").count() == 1
    assert worker.sent == []  # the loser asked for no check


def test_verifying_an_account_deleted_meanwhile_answers_409(cast, aws_world, owner_client) -> None:
    account = owner_client.post(
        "/api/v1/cloud-accounts/",
        {"role_arn": aws_world.role(cast.org_a.external_id), "regions": ["us-east-1"]},
        content_type="application/json",
    ).json()
    other = _other_request(lambda: CloudAccount.objects.filter(pk=account["id"]).delete())
    response = owner_client.post(f"/api/v1/cloud-accounts/{account['id']}/verify/")
    other.join(70)
    assert response.status_code == 409, response.content
    assert "deleted by another request" in response.json()["error"]["message"]
    assert not CloudAccount.objects.filter(pk=account["id"]).exists()


def test_checking_a_cluster_deleted_meanwhile_answers_409(cast, owner_client, worker) -> None:
    cluster = Cluster.objects.create(
        organization=cast.org_a, name="dc1", connection=ClusterConnection.KUBECONFIG
    )
    other = _other_request(lambda: Cluster.objects.filter(pk=cluster.pk).delete())
    response = owner_client.post(f"/api/v1/clusters/{cluster.pk}/health/")
    other.join(70)
    assert response.status_code == 409, response.content
    assert "deleted by another request" in response.json()["error"]["message"]
    assert worker.sent == []  # nothing to check


def test_a_page_whose_write_lost_a_race_answers_409_with_the_reason(cast, rf) -> None:
    from django.db import IntegrityError
    from django.http import HttpResponse

    from tenants.races import RaceMiddleware

    Cluster.objects.create(organization=cast.org_a, name="dc1", connection=ClusterConnection.KUBECONFIG)
    with pytest.raises(IntegrityError) as lost, transaction.atomic():
        Cluster.objects.create(organization=cast.org_a, name="dc1", connection=ClusterConnection.KUBECONFIG)
    request = rf.post("/clusters/connect/")
    request.user = cast.alice
    middleware = RaceMiddleware(lambda r: HttpResponse())
    response = middleware.process_exception(request, lost.value)
    assert response is not None and response.status_code == 409
    assert b"choose another name" in response.content
    assert middleware.process_exception(request, ValueError("not a race")) is None
