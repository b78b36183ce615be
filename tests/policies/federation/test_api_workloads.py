"""Workloads through the API: submit (YAML, JSON, objects), validation with the field named,
policy choice, Secrets never shown, scale and update as new generations, delete, roles."""

from __future__ import annotations

import base64
import json

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext

from policies.federation import services
from policies.models import FederationPolicy, Workload, WorkloadStatus
from tenants.models import AuditEvent
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
    first = api_a.post(URL, {"manifest": deployment()}, format="json").json()
    again = _error(api_a.post(URL, {"manifest": deployment(replicas=5)}, format="json"))
    assert again["fields"]["manifest"] == [
        f"deployment/shop/web already exists (id {first['id']}); update it instead of submitting it again."
    ]
    # The refused one left nothing: the stored workload and its one audit entry are the first's.
    assert Workload.objects.get().desired_replicas == 2
    assert AuditEvent.objects.filter(action="workload.submit").count() == 1


def test_a_workload_still_being_removed_cannot_be_submitted_again(api_a, web_policy) -> None:
    created = api_a.post(URL, {"manifest": deployment()}, format="json").json()
    assert api_a.delete(f"{URL}{created['id']}/").status_code == 202
    error = _error(api_a.post(URL, {"manifest": deployment()}, format="json"))
    assert error["fields"]["manifest"] == [
        "deployment/shop/web is still being removed from its clusters; submit it again once it is gone."
    ]
    # Once the loop has removed it, the same name may be submitted again.
    Workload.objects.filter(pk=created["id"]).delete()
    assert api_a.post(URL, {"manifest": deployment()}, format="json").status_code == 201


def test_a_manifest_as_objects_json_text_or_yaml_text_is_stored_the_same(api_a, web_policy) -> None:
    """Objects in the JSON body are not turned into text and read again: the three forms give the
    same workload and the same answer."""
    document = yaml.safe_load(_with_secret().split("---")[0])
    secret = yaml.safe_load(_with_secret().split("---")[1])
    forms = {
        "objects": [document, secret],
        "json text": json.dumps([document, secret]),
        "yaml text": _with_secret(),
    }
    stored, answers = {}, {}
    for form, manifest in forms.items():
        response = api_a.post(URL, {"manifest": manifest, "policy": "web"}, format="json")
        assert response.status_code == 201, (form, response.content)
        workload = Workload.objects.get(pk=response.json()["id"])
        stored[form] = (
            workload.manifest,
            workload.labels,
            workload.desired_replicas,
            (workload.cpu_millis, workload.memory_mib, workload.gpus),
            workload.companion_summary,
            services.workload_companions(workload),
        )
        answers[form] = {
            k: v for k, v in response.json().items() if k not in ("id", "created_at", "updated_at")
        }
        Workload.objects.filter(pk=workload.pk).delete()  # the next form submits the same name
    assert stored["objects"] == stored["json text"] == stored["yaml text"]
    assert answers["objects"] == answers["json text"] == answers["yaml text"]


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


def test_a_submission_reads_no_workload_row_and_answers_from_the_row_it_stored(api_a, web_policy) -> None:
    """The unique constraint, not a read before the insert, refuses a second submission; the answer
    is the stored row (no placements or decisions to read yet)."""
    api_a.get(URL)  # the token's last use is recorded once a minute: not in the statements below
    with CaptureQueriesContext(connection) as captured:
        response = api_a.post(URL, {"manifest": deployment(), "policy": "web"}, format="json")
    assert response.status_code == 201, response.content
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not [sql for sql in reads if '"policies_workload"' in sql or '"policies_placement"' in sql]
    assert not [sql for sql in reads if '"policies_decision"' in sql]


# A submission: the token with its organization, the policy it names, the workload, its audit event.
MAX_SUBMISSION_STATEMENTS = 4


def test_a_submission_takes_few_statements(api_a, web_policy) -> None:
    api_a.get(URL)  # the token's last use is recorded once a minute: not in the statements below
    with CaptureQueriesContext(connection) as captured:
        response = api_a.post(URL, {"manifest": deployment(), "policy": "web"}, format="json")
    assert response.status_code == 201, response.content
    statements = [
        q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(statements) <= MAX_SUBMISSION_STATEMENTS, "\n".join(statements)
