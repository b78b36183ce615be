"""Races between requests end as 409 or success, never 500: the database referees what the services'
checks cannot (two connects of one name pass the name check together; a row is deleted while a
request works on it)."""

from __future__ import annotations

import pytest
from django.db import transaction

from clusters.models import CloudAccount, Cluster, ClusterConnection
from tests.fixtures.connections import kubeconfig_for
from tests.fixtures.races import other_request

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_connects_of_one_name_make_one_cluster_and_a_409(
    cast, simulated_cluster, owner_client, worker
) -> None:
    onprem = simulated_cluster()
    other = other_request(
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
    other = other_request(lambda: CloudAccount.objects.filter(pk=account["id"]).delete())
    response = owner_client.post(f"/api/v1/cloud-accounts/{account['id']}/verify/")
    other.join(70)
    assert response.status_code == 409, response.content
    assert "deleted by another request" in response.json()["error"]["message"]
    assert not CloudAccount.objects.filter(pk=account["id"]).exists()


def test_checking_a_cluster_deleted_meanwhile_answers_409(cast, owner_client, worker) -> None:
    cluster = Cluster.objects.create(
        organization=cast.org_a, name="dc1", connection=ClusterConnection.KUBECONFIG
    )
    other = other_request(lambda: Cluster.objects.filter(pk=cluster.pk).delete())
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
