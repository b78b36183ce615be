"""Optimistic concurrency for federation policies and workloads: two changes of different fields made
at the same moment both land, every save is a version of its own, and a client that says which
version it edited (If-Match, the forms' hidden version) is refused when another change came first."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from policies.models import FederationPolicy, Workload
from tests.fixtures.federation import deployment
from tests.fixtures.races import other_request

POLICIES = "/api/v1/federation-policies/"
WORKLOADS = "/api/v1/workloads/"


@pytest.fixture
def web_policy(api_a) -> dict:
    response = api_a.post(
        POLICIES,
        {"name": "web", "strategy": "cheapest", "workload_selector": {"namespaces": ["shop"]}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def workload(api_a, web_policy) -> dict:
    response = api_a.post(WORKLOADS, {"manifest": deployment(replicas=2), "policy": "web"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_two_patches_of_different_policy_fields_both_land_as_two_versions(api_a, web_policy) -> None:
    url = f"{POLICIES}{web_policy['id']}/"
    other = other_request(lambda: api_a.patch(url, {"description": "owned by the web team"}, format="json"))
    response = api_a.patch(url, {"egress_weight": 2.5}, format="json")
    other.join(70)

    assert response.status_code == 200, response.content
    stored = FederationPolicy.objects.get(pk=web_policy["id"])
    assert (stored.description, stored.spec["egress_weight"]) == ("owned by the web team", 2.5)
    assert stored.version == web_policy["version"] + 2
    assert response.json()["version"] == stored.version


@pytest.mark.django_db(transaction=True)
def test_two_patches_of_one_workload_keep_both_changes_and_use_each_generation_once(api_a, workload) -> None:
    url = f"{WORKLOADS}{workload['id']}/"
    other = other_request(lambda: api_a.patch(url, {"replicas": 5}, format="json"))
    response = api_a.patch(
        url, {"egress_gb_per_hour": "1.5", "data_location": "aws/us-east-1"}, format="json"
    )
    other.join(70)

    assert response.status_code == 200, response.content
    stored = Workload.objects.get(pk=workload["id"])
    assert stored.desired_replicas == 5 and stored.manifest["spec"]["replicas"] == 5
    assert (stored.egress_gb_per_hour, stored.data_location) == (Decimal("1.5"), "aws/us-east-1")
    assert stored.generation == workload["generation"] + 2


@pytest.mark.django_db(transaction=True)
def test_a_policy_deleted_while_a_patch_waits_answers_409(api_a, web_policy) -> None:
    url = f"{POLICIES}{web_policy['id']}/"
    other = other_request(lambda: FederationPolicy.objects.filter(pk=web_policy["id"]).delete())
    response = api_a.patch(url, {"description": "too late"}, format="json")
    other.join(70)

    assert response.status_code == 409, response.content
    assert "deleted by another request" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_if_match_with_the_version_read_applies_and_a_stale_one_is_refused_with_412(
    api_a, web_policy
) -> None:
    url = f"{POLICIES}{web_policy['id']}/"
    read = api_a.get(url)
    assert read["ETag"] == f'"{web_policy["version"]}"'

    first = api_a.patch(url, {"description": "first"}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert first.status_code == 200, first.content
    assert first["ETag"] == f'"{web_policy["version"] + 1}"'

    stale = api_a.patch(url, {"description": "second"}, format="json", HTTP_IF_MATCH=read["ETag"])
    assert stale.status_code == 412, stale.content
    error = stale.json()["error"]
    assert error["code"] == "precondition_failed"
    assert f"now at version {web_policy['version'] + 1}" in error["message"]
    assert FederationPolicy.objects.get(pk=web_policy["id"]).description == "first"


@pytest.mark.django_db
def test_if_match_on_workloads_is_their_generation(api_a, workload) -> None:
    url = f"{WORKLOADS}{workload['id']}/"
    etag = api_a.get(url)["ETag"]
    assert etag == f'"{workload["generation"]}"'
    assert api_a.patch(url, {"replicas": 3}, format="json", HTTP_IF_MATCH=etag).status_code == 200
    stale = api_a.patch(url, {"replicas": 4}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412, stale.content
    assert Workload.objects.get(pk=workload["id"]).desired_replicas == 3
    assert api_a.patch(url, {"replicas": 4}, format="json", HTTP_IF_MATCH="*").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["seven", 'W/"x"', '"99999999999999"'])
def test_an_if_match_that_is_not_a_version_is_a_400_naming_the_header(api_a, web_policy, header) -> None:
    response = api_a.patch(
        f"{POLICIES}{web_policy['id']}/", {"description": "x"}, format="json", HTTP_IF_MATCH=header
    )
    assert response.status_code == 400, response.content
    assert "If-Match" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_the_policy_form_refuses_a_save_over_a_newer_version_and_keeps_the_input(
    cast, owner_client, api_a, web_policy
) -> None:
    edit = reverse("federation-policy-edit", args=[web_policy["id"]])
    page = owner_client.get(edit).content.decode()
    assert f'name="edited_version" value="{web_policy["version"]}"' in page
    api_a.patch(f"{POLICIES}{web_policy['id']}/", {"description": "changed meanwhile"}, format="json")

    form = {
        "edited_version": str(web_policy["version"]),
        "name": "web",
        "description": "my edit",
        "workload_namespaces": "shop",
        "strategy": "cheapest",
        "spread_weights": "capacity",
        "spread_by": "cluster",
        "return_headroom": "0.1",
        "return_after_seconds": "300",
        "egress_weight": "1",
        "stickiness": "0.1",
        "on_failure": "reschedule",
        "grace_period_seconds": "120",
    }
    response = owner_client.post(edit, form)
    assert response.status_code == 200
    text = response.content.decode()
    assert "changed since you read it" in text and "my edit" in text
    assert FederationPolicy.objects.get(pk=web_policy["id"]).description == "changed meanwhile"
