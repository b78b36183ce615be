"""Workloads through the API: submit (YAML, JSON, objects), validation with the field named,
policy choice, Secrets never shown, scale and update as new generations, delete, roles."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from policies.models import FederationPolicy, Workload, WorkloadStatus
from tests.fixtures.federation import deployment, job

pytestmark = pytest.mark.django_db

URL = "/api/v1/workloads/"
SECRET_VALUE = "s3cr3t-do-not-leak"


@pytest.fixture
def web_policy(api_a) -> FederationPolicy:
    response = api_a.post(
        "/api/v1/federation-policies/",
        {"name": "web", "strategy": "cheapest", "workload_selector": {"namespaces": ["shop"]}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return FederationPolicy.objects.get(pk=response.json()["id"])


def _with_secret() -> str:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": {"password": base64.b64encode(SECRET_VALUE.encode()).decode()},
        "stringData": {"token": SECRET_VALUE},
    }
    return deployment(replicas=2) + "---\n" + yaml.safe_dump(secret)


def _error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def test_submitting_stores_the_workload_and_never_returns_secret_data(api_a, web_policy) -> None:
    response = api_a.post(URL, {"manifest": _with_secret(), "policy": "web"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["namespace"], body["name"], body["desired_replicas"]) == (
        "Deployment",
        "shop",
        "web",
        2,
    )
    assert body["status"] == WorkloadStatus.PENDING and body["policy"]["name"] == "web"
    assert body["requests"] == {"cpu_millis": 500, "memory_mib": 256, "gpus": 0}
    assert body["companions"] == [{"kind": "Secret", "name": "db"}]
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    for url in (URL, f"{URL}{body['id']}/", f"{URL}{body['id']}/decisions/"):
        text = api_a.get(url).content.decode()
        assert SECRET_VALUE not in text and encoded not in text
    stored = Workload.objects.get(pk=body["id"])
    assert SECRET_VALUE not in stored.objects_ciphertext and encoded not in stored.objects_ciphertext
    # The answer is built from the row in hand, not read back: it says what a read says.
    read = api_a.get(f"{URL}{body['id']}/")
    assert read.json() == body and read["ETag"] == response["ETag"]
    assert body["placements"] == [] and body["decisions"] == []


def test_manifests_may_be_json_text_or_objects(api_a, web_policy) -> None:
    as_object = yaml.safe_load(deployment(name="obj"))
    assert api_a.post(URL, {"manifest": as_object}, format="json").status_code == 201
    as_json = yaml.safe_load(deployment(name="json-text"))
    assert api_a.post(URL, {"manifest": json.dumps(as_json)}, format="json").status_code == 201


def test_a_bad_manifest_is_refused_with_the_field_named(api_a, web_policy) -> None:
    manifest = deployment(cpu="2 cores")
    error = _error(api_a.post(URL, {"manifest": manifest, "policy": "web"}, format="json"))
    assert error["fields"]["manifest"] == [
        'spec.template.spec.containers[0].resources.requests.cpu: "2 cores" is not a Kubernetes quantity (e.g. 500m, 2, 1Gi)'
    ]
    assert error["message"].startswith("Invalid manifest:")
    assert not Workload.objects.exists()


def test_without_a_policy_the_most_specific_matching_one_is_chosen(api_a, web_policy) -> None:
    api_a.post(
        "/api/v1/federation-policies/",
        {
            "name": "web-tier",
            "strategy": "most_capacity",
            "workload_selector": {"namespaces": ["shop"], "labels": {"app": "web"}},
        },
        format="json",
    )
    assert api_a.post(URL, {"manifest": deployment()}, format="json").json()["policy"]["name"] == "web-tier"
    error = _error(api_a.post(URL, {"manifest": job()}, format="json"))
    assert "No federation policy selects namespace jobs" in error["fields"]["policy"][0]


def test_a_named_policy_must_select_the_workload(api_a, web_policy) -> None:
    error = _error(api_a.post(URL, {"manifest": job(), "policy": "web"}, format="json"))
    assert "web selects workloads in shop" in error["fields"]["policy"][0]
    assert (
        "No federation policy named 'nope'"
        in _error(api_a.post(URL, {"manifest": deployment(), "policy": "nope"}, format="json"))["fields"][
            "policy"
        ][0]
    )


def test_the_same_workload_cannot_be_submitted_twice(api_a, web_policy) -> None:
    assert api_a.post(URL, {"manifest": deployment()}, format="json").status_code == 201
    assert (
        "already exists"
        in _error(api_a.post(URL, {"manifest": deployment()}, format="json"))["fields"]["manifest"][0]
    )


def test_egress_needs_a_destination(api_a, web_policy) -> None:
    error = _error(api_a.post(URL, {"manifest": deployment(), "egress_gb_per_hour": "5"}, format="json"))
    assert "Say where the traffic goes" in error["fields"]["data_location"][0]
    error = _error(
        api_a.post(
            URL,
            {"manifest": deployment(), "egress_gb_per_hour": "5", "data_location": "us-east-1"},
            format="json",
        )
    )
    assert "must be cloud/region" in error["fields"]["data_location"][0]


def test_scaling_and_updating_make_new_generations(api_a, web_policy) -> None:
    created = api_a.post(URL, {"manifest": _with_secret()}, format="json").json()
    scaled = api_a.patch(f"{URL}{created['id']}/", {"replicas": 5}, format="json").json()
    assert (scaled["desired_replicas"], scaled["generation"]) == (5, 2)
    assert Workload.objects.get(pk=created["id"]).manifest["spec"]["replicas"] == 5

    updated = yaml.safe_load(deployment(replicas=3))
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    body = api_a.patch(f"{URL}{created['id']}/", {"manifest": updated}, format="json").json()
    assert (body["desired_replicas"], body["generation"]) == (3, 3)
    assert body["companions"] == [{"kind": "Secret", "name": "db"}]  # kept: the new manifest had none

    renamed = yaml.safe_load(deployment(name="other"))
    error = _error(api_a.patch(f"{URL}{created['id']}/", {"manifest": renamed}, format="json"))
    assert "cannot change" in error["fields"]["manifest"][0]


def test_deleting_marks_it_for_removal_and_stops_changes(api_a, web_policy) -> None:
    created = api_a.post(URL, {"manifest": deployment()}, format="json").json()
    deleted = api_a.delete(f"{URL}{created['id']}/")
    assert deleted.status_code == 202 and deleted.json()["deleting"] is True
    assert api_a.delete(f"{URL}{created['id']}/").status_code == 202
    assert (
        "being deleted"
        in _error(api_a.patch(f"{URL}{created['id']}/", {"replicas": 1}, format="json"))["message"]
    )


def test_lists_filter_and_paginate(api_a, web_policy) -> None:
    for name in ("a", "b", "c"):
        api_a.post(URL, {"manifest": deployment(name=name)}, format="json")
    page = api_a.get(f"{URL}?page_size=2&status=pending").json()
    assert page["count"] == 3 and len(page["results"]) == 2
    assert api_a.get(f"{URL}?status=running").json()["count"] == 0


def test_viewers_read_workloads_but_cannot_submit(cast, api_a, viewer_client, web_policy) -> None:
    created = api_a.post(URL, {"manifest": deployment()}, format="json").json()
    assert viewer_client.get(f"{URL}{created['id']}/").status_code == 200
    response = viewer_client.post(URL, {"manifest": deployment(name="v")}, content_type="application/json")
    assert _error(response, 403)["code"] == "permission_denied"
    assert viewer_client.delete(f"{URL}{created['id']}/").status_code == 403
