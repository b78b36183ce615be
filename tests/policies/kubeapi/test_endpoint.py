"""The Kubernetes endpoint over HTTP (Django's test client): discovery, CRUD, patches, server-side
apply and its conflicts, resourceVersion preconditions, watch and 410 Gone, Status errors, tokens."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
import yaml
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from policies.models import KubeCounter, Workload
from tests.fixtures.federation import deployment
from tests.policies.kubeapi.conftest import Kube

pytestmark = pytest.mark.django_db
DEPLOYMENTS = "/k8s/apis/apps/v1/namespaces/shop/deployments"
CONFIGMAPS = "/k8s/api/v1/namespaces/shop/configmaps"


@pytest.fixture
def kube(cast) -> Kube:
    return Kube(cast.token_a_plaintext)


def _deployment(**extra: Any) -> dict[str, Any]:
    return yaml.safe_load(deployment(**extra))


def test_discovery_lists_the_served_kinds(kube) -> None:
    assert kube.get("/k8s/version").json()["major"] == "1"
    assert kube.get("/k8s/api").json()["versions"] == ["v1"]
    groups = {g["name"] for g in kube.get("/k8s/apis").json()["groups"]}
    assert {"apps", "batch", "policy.nodeless.io", "autoscaling", "networking.k8s.io"} <= groups
    apps = kube.get("/k8s/apis/apps/v1").json()
    deployments = next(r for r in apps["resources"] if r["name"] == "deployments")
    assert deployments["kind"] == "Deployment" and "watch" in deployments["verbs"]
    assert any(r["name"] == "deployments/status" for r in apps["resources"])
    index = kube.get("/k8s/openapi/v3").json()["paths"]
    document = kube.get(index["apis/apps/v1"]["serverRelativeURL"]).json()
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}} in patch["parameters"]


def test_openapi_v3_documents_are_named_by_their_hash_and_kept_as_kube_apiservers(kube) -> None:
    """kubectl keeps a document under its URL: with the hash in it (SHA-512, kube-openapi's), it is
    fetched once, not on every apply; an old hash is sent to the current one."""
    url = kube.get("/k8s/openapi/v3").json()["paths"]["apis/apps/v1"]["serverRelativeURL"]
    path, digest = url.split("?hash=")
    document = kube.get(url)
    assert document.status_code == 200
    assert hashlib.sha512(document.content).hexdigest().upper() == digest
    assert document["ETag"] == f'"{digest}"' and document["Cache-Control"] == "public, immutable"
    assert kube.get(url, HTTP_IF_NONE_MATCH=f'"{digest}"').status_code == 304
    moved = kube.get(f"{path}?hash=0BSOLETE")
    assert moved.status_code == 301 and moved["Location"] == url
    unhashed = kube.get(path)
    assert unhashed.content == document.content and not unhashed.has_header("Cache-Control")
    assert kube.get("/k8s/openapi/v3/apis/nothing.example.com/v1").status_code == 404


def test_openapi_v2_is_protobuf_for_client_go_and_json_otherwise(kube) -> None:
    """client-go asks with the subtype's older spelling and is answered with the newer one (its media
    type parser refuses the "@"); the message is gnostic's Document: swagger (1), info (2)."""
    asked = kube.get(
        "/k8s/openapi/v2", HTTP_ACCEPT="application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    )
    assert asked.status_code == 200 and "Accept" in asked["Vary"]
    assert asked["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert asked.content.startswith(b"\x0a\x032.0\x12")  # field 1 (length 3) "2.0", then field 2
    document = kube.get("/k8s/openapi/v2", HTTP_ACCEPT="application/json").json()
    assert document["swagger"] == "2.0" and document["definitions"] == {}


def test_without_a_token_every_path_is_401_status(cast) -> None:
    for path in ("/k8s/api", "/k8s/apis/apps/v1", "/k8s/openapi/v2", DEPLOYMENTS):
        response = Kube(None).get(path)
        assert response.status_code == 401
        assert response.json()["kind"] == "Status" and response.json()["reason"] == "Unauthorized"
    bad = Kube("nls_not-a-token").get(DEPLOYMENTS)
    assert bad.status_code == 401 and "not a Nodeless API token" in bad.json()["message"]


def test_a_deployment_becomes_a_federated_workload_with_its_configmap(cast, shop) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "b"}}
    assert shop.send("post", CONFIGMAPS, config).status_code == 201
    web = _deployment()
    web["spec"]["template"]["spec"]["volumes"] = [{"name": "c", "configMap": {"name": "conf"}}]
    created = shop.send("post", DEPLOYMENTS, web)
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (
        body["metadata"]["generation"] == 1 and body["metadata"]["managedFields"][0]["operation"] == "Update"
    )
    workload = Workload.objects.get(organization=cast.org_a, name="web", namespace="shop")
    assert workload.companion_summary == [{"kind": "ConfigMap", "name": "conf"}]
    listed = shop.get(DEPLOYMENTS).json()
    assert listed["kind"] == "DeploymentList" and [i["metadata"]["name"] for i in listed["items"]] == ["web"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(body["metadata"]["resourceVersion"])

    # A changed ConfigMap rolls out to the workload using it (a new generation).
    patched = shop.send("patch", f"{CONFIGMAPS}/conf", {"data": {"a": "c"}}, "application/merge-patch+json")
    assert patched.status_code == 200 and patched.json()["data"] == {"a": "c"}
    workload.refresh_from_db()
    assert workload.generation == 2


def test_strategic_merge_and_json_patches_and_stale_versions(shop) -> None:
    created = shop.send("post", DEPLOYMENTS, _deployment()).json()
    smp = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}}}
    patched = shop.send("patch", f"{DEPLOYMENTS}/web", smp, "application/strategic-merge-patch+json").json()
    container = patched["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.28" and container["resources"]["requests"]["cpu"] == "500m"
    assert patched["metadata"]["generation"] == 2
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3}]
    assert (
        shop.send("patch", f"{DEPLOYMENTS}/web", ops, "application/json-patch+json").json()["spec"][
            "replicas"
        ]
        == 3
    )
    stale = dict(created, metadata={**created["metadata"]})
    response = shop.send("put", f"{DEPLOYMENTS}/web", stale)
    assert response.status_code == 409 and response.json()["reason"] == "Conflict"


def test_server_side_apply_owns_fields_and_conflicts(shop) -> None:
    url = f"{DEPLOYMENTS}/web?fieldManager=ci"
    applied = shop.send("patch", url, _deployment(replicas=2), "application/apply-patch+yaml")
    assert applied.status_code == 201, applied.json()
    managers = {m["manager"]: m for m in applied.json()["metadata"]["managedFields"]}
    assert "f:replicas" in managers["ci"]["fieldsV1"]["f:spec"]
    other = shop.send(
        "patch",
        f"{DEPLOYMENTS}/web?fieldManager=other",
        _deployment(replicas=5),
        "application/apply-patch+yaml",
    )
    assert other.status_code == 409
    assert other.json()["details"]["causes"][0] == {
        "reason": "FieldManagerConflict",
        "message": 'conflict with "ci"',
        "field": ".spec.replicas",
    }
    forced = shop.send(
        "patch",
        f"{DEPLOYMENTS}/web?fieldManager=other&force=true",
        _deployment(replicas=5),
        "application/apply-patch+yaml",
    )
    assert forced.status_code == 200 and forced.json()["spec"]["replicas"] == 5


def test_an_apply_answers_201_when_it_creates_and_200_when_it_updates(shop) -> None:
    """As kube-apiserver answers a server-side apply (client-go and the conformance tests read the
    code): 201 Created when the apply creates the object, a dry run included (which stores
    nothing), and 200 when it changes an existing one or leaves it as it is."""
    url = f"{DEPLOYMENTS}/web?fieldManager=ci"
    dry = shop.send("patch", f"{url}&dryRun=All", _deployment(), "application/apply-patch+yaml")
    assert dry.status_code == 201, dry.json()
    assert shop.get(f"{DEPLOYMENTS}/web").status_code == 404
    created = shop.send("patch", url, _deployment(), "application/apply-patch+yaml")
    assert created.status_code == 201, created.json()
    assert created.json()["metadata"]["managedFields"][0]["operation"] == "Apply"
    for replicas in (2, 3):  # the same object again (nothing changes), then a change
        applied = shop.send("patch", url, _deployment(replicas=replicas), "application/apply-patch+yaml")
        assert applied.status_code == 200, applied.json()
        assert applied.json()["metadata"]["uid"] == created.json()["metadata"]["uid"]
        assert applied.json()["spec"]["replicas"] == replicas
    policy_url = "/k8s/apis/policy.nodeless.io/v1alpha1/federationpolicies/east-first?fieldManager=ci"
    policy = {
        "apiVersion": "policy.nodeless.io/v1alpha1",
        "kind": "FederationPolicy",
        "metadata": {"name": "east-first"},
        "spec": {"strategy": "cheapest"},
    }
    statuses = [shop.send("patch", policy_url, policy, "application/apply-patch+yaml") for _ in range(2)]
    assert [s.status_code for s in statuses] == [201, 200], statuses[0].json()


def test_one_manager_applies_again_and_again_in_json_block_or_flow_yaml(shop) -> None:
    """GitOps tools apply the same object with one field manager on every sync, as client-go sends
    it (JSON, which YAML includes); people send YAML proper, block or flow (``{replicas: 4}`` is
    YAML, not JSON). Each apply changes ``replicas`` and must stay the manager's Apply: recorded
    as an Update too, it took ``replicas`` from the Apply entry and the third apply conflicted
    with its own manager."""
    url = f"{DEPLOYMENTS}/web?fieldManager=ci"
    flow = yaml.safe_dump(_deployment(replicas=4), default_flow_style=True)
    assert flow.startswith("{") and "replicas: 4" in flow
    for replicas, body in ((2, json.dumps(_deployment(replicas=2))), (3, deployment(replicas=3)), (4, flow)):
        applied = shop.client.patch(
            url, data=body, content_type="application/apply-patch+yaml", **shop.headers
        )
        assert applied.status_code in (200, 201), applied.json()
        assert applied.json()["spec"]["replicas"] == replicas
        managed = applied.json()["metadata"]["managedFields"]
        assert [(entry["manager"], entry["operation"]) for entry in managed] == [("ci", "Apply")], managed
        assert "f:replicas" in managed[0]["fieldsV1"]["f:spec"]


def test_bad_objects_get_422_status_with_causes(shop) -> None:
    bad = _deployment(replicas=-1)
    response = shop.send("post", DEPLOYMENTS, bad)
    assert response.status_code == 422
    status = response.json()
    assert status["reason"] == "Invalid" and status["details"]["kind"] == "Deployment"
    assert any(c["field"] == "spec.replicas" for c in status["details"]["causes"]), status
    misnamed = shop.send(
        "post", CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}
    )
    assert misnamed.status_code == 422 and misnamed.json()["details"]["causes"][0]["field"] == "metadata.name"
    missing_ns = shop.send(
        "post",
        "/k8s/api/v1/namespaces/nowhere/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
    )
    assert missing_ns.status_code == 404 and missing_ns.json()["message"] == 'namespaces "nowhere" not found'


def test_watch_streams_changes_after_a_version_and_410_before_the_kept_history(cast, shop) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "b"}}
    version = shop.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    shop.send("post", CONFIGMAPS, config)
    shop.send("patch", f"{CONFIGMAPS}/conf", {"data": {"a": "c"}}, "application/merge-patch+json")
    shop.client.delete(f"{CONFIGMAPS}/conf", **shop.headers)
    response = shop.get(f"{CONFIGMAPS}?watch=1&resourceVersion={version}&timeoutSeconds=1")
    events = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"]["data"] == {"a": "c"}
    KubeCounter.objects.filter(organization=cast.org_a).update(compacted_version=int(version) + 1)
    gone = shop.get(f"{CONFIGMAPS}?watch=1&resourceVersion={version}&timeoutSeconds=1")
    event = json.loads(b"".join(gone.streaming_content))
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


def test_another_organization_sees_nothing_of_ours(cast, shop) -> None:
    shop.send("post", DEPLOYMENTS, _deployment())
    outsider = Kube(cast.token_b_plaintext)
    assert outsider.get(f"{DEPLOYMENTS}/web").status_code == 404
    assert outsider.get("/k8s/apis/apps/v1/deployments").json()["items"] == []
    assert outsider.get("/k8s/api/v1/namespaces/shop").status_code == 404
    for method in ("put", "patch", "delete"):
        response = outsider.send(method, f"{DEPLOYMENTS}/web", _deployment(), "application/merge-patch+json")
        assert response.status_code == 404, (method, response.json())
    assert outsider.send("post", DEPLOYMENTS, _deployment()).status_code == 404  # no namespace shop there
    assert Workload.objects.filter(organization=cast.org_b).count() == 0


def test_the_kubeconfig_names_the_https_endpoint_and_its_ca_when_configured(
    cast, owner_client, settings, tmp_path
) -> None:
    """The demo (pages over HTTP, endpoint over HTTPS with a CA of its own) and any deployment whose
    endpoint is not the pages' address."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    settings.NODELESS_KUBE_API_URL = "https://127.0.0.1:8443/k8s"
    settings.NODELESS_KUBE_API_CA_FILE = str(ca)
    text = owner_client.get("/workloads/kubeconfig/").content.decode()
    cluster = yaml.safe_load(text)["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:8443/k8s"
    assert base64.b64decode(cluster["certificate-authority-data"]).decode() == ca.read_text()
    assert "only over HTTPS" not in text


def test_the_workloads_page_offers_a_kubeconfig_without_any_token(cast, owner_client) -> None:
    from tests.fixtures.pages import get_page

    page = get_page(owner_client, "/workloads/", queries=12).content.decode()
    assert "/workloads/kubeconfig/" in page
    response = get_page(owner_client, "/workloads/kubeconfig/", queries=4)
    assert response["Content-Disposition"] == f'attachment; filename="nodeless-{cast.org_a.slug}.kubeconfig"'
    text = response.content.decode()
    document = yaml.safe_load(text)
    assert document["clusters"][0]["cluster"]["server"] == "http://testserver/k8s"
    assert "kubectl sends API tokens only over HTTPS" in text  # a plain-HTTP address says it will fail
    assert document["users"][0]["user"]["token"] == "PASTE-AN-API-TOKEN-HERE"
    assert cast.token_a_plaintext not in text and "nls_" not in text
    assert Client().get("/workloads/kubeconfig/").status_code == 302  # signed out: to the sign-in page


CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "caches.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Cache", "plural": "caches", "singular": "cache", "shortNames": ["ca"]},
        "scope": "Namespaced",
        "versions": [
            {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
        ],
    },
}


def test_custom_resource_definitions_serve_their_resources_to_their_organization_only(cast, shop) -> None:
    created = shop.send("post", "/k8s/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    assert created.status_code == 201, created.json()
    assert {c["type"] for c in created.json()["status"]["conditions"]} == {"NamesAccepted", "Established"}
    assert "example.com" in {g["name"] for g in shop.get("/k8s/apis").json()["groups"]}
    caches = "/k8s/apis/example.com/v1/namespaces/shop/caches"
    cache = {
        "apiVersion": "example.com/v1",
        "kind": "Cache",
        "metadata": {"name": "redis"},
        "spec": {"size": 3},
    }
    assert shop.send("post", caches, cache).status_code == 201
    assert shop.get(f"{caches}/redis").json()["spec"] == {"size": 3}

    outsider = Kube(cast.token_b_plaintext)
    assert "example.com" not in {g["name"] for g in outsider.get("/k8s/apis").json()["groups"]}
    assert outsider.get(f"{caches}/redis").status_code == 404

    # Deleting the definition deletes its resources.
    shop.client.delete(
        "/k8s/apis/apiextensions.k8s.io/v1/customresourcedefinitions/caches.example.com", **shop.headers
    )
    assert shop.get(f"{caches}/redis").status_code == 404


REVIEWS = "/k8s/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def _can_i(kube: Kube, **attributes: str) -> dict:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview"}
    answered = kube.send("post", REVIEWS, {**review, "spec": {"resourceAttributes": attributes}})
    assert answered.status_code == 201, answered.json()
    return answered.json()["status"]


def test_an_access_review_answers_for_the_tokens_own_organization(cast, shop) -> None:
    """A custom resource one organization defined is not served to another: its token's review says so."""
    assert (
        shop.send("post", "/k8s/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD).status_code
        == 201
    )
    assert _can_i(shop, verb="create", group="example.com", resource="caches")["allowed"] is True
    outsider = _can_i(Kube(cast.token_b_plaintext), verb="get", group="example.com", resource="caches")
    assert outsider == {
        "allowed": False,
        "reason": 'the endpoint serves no resource "caches" in API group "example.com"',
    }
    assert (
        _can_i(shop, verb="update", group="apps", resource="deployments", subresource="logs")["allowed"]
        is False
    )

    asked_nothing = shop.send("post", REVIEWS, {"kind": "SelfSubjectAccessReview", "spec": {}})
    assert asked_nothing.status_code == 422 and asked_nothing.json()["reason"] == "Invalid"
    assert "resourceAttributes or nonResourceAttributes" in asked_nothing.json()["message"]
    assert shop.get(REVIEWS).status_code == 405
    for garbled in (b"not protobuf", b"k8s\x00\x12\xff\xff"):  # no prefix; a length past the end
        sent = shop.client.post(
            REVIEWS, data=garbled, content_type="application/vnd.kubernetes.protobuf", **shop.headers
        )
        assert sent.status_code == 400 and "protobuf body could not be read" in sent.json()["message"]
    assert Kube(None).send("post", REVIEWS, {"spec": {}}).status_code == 401


def test_a_custom_resource_definition_is_checked(shop) -> None:
    bad = {**CRD, "metadata": {"name": "wrong.example.com"}, "spec": {**CRD["spec"], "scope": "Everywhere"}}
    refused = shop.send("post", "/k8s/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bad)
    assert refused.status_code == 422
    assert [c["field"] for c in refused.json()["details"]["causes"]] == ["spec.scope"]
    builtin = {**CRD, "metadata": {"name": "caches.apps"}, "spec": {**CRD["spec"], "group": "apps"}}
    refused = shop.send("post", "/k8s/apis/apiextensions.k8s.io/v1/customresourcedefinitions", builtin)
    assert refused.status_code == 422 and refused.json()["details"]["causes"][0]["field"] == "spec.group"


def test_a_change_made_through_the_rest_api_comes_back_to_the_object(cast, shop, api_a) -> None:
    from workers.federation import run_pass

    shop.send("post", DEPLOYMENTS, _deployment())
    workload = Workload.objects.get(organization=cast.org_a, name="web")
    scaled = api_a.patch(f"/api/v1/workloads/{workload.pk}/", {"replicas": 3}, format="json")
    assert scaled.status_code == 200
    run_pass(str(cast.org_a.pk))
    obj = shop.get(f"{DEPLOYMENTS}/web").json()
    assert obj["spec"]["replicas"] == 3 and obj["metadata"]["generation"] == 2
    # ... and a change through the endpoint is not copied back over itself.
    shop.send("patch", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 4}}, "application/merge-patch+json")
    run_pass(str(cast.org_a.pk))
    obj = shop.get(f"{DEPLOYMENTS}/web").json()
    assert obj["spec"]["replicas"] == 4 and obj["metadata"]["generation"] == 3
    assert Workload.objects.get(pk=workload.pk).desired_replicas == 4


def test_watch_bookmarks_say_where_the_watch_is(shop, monkeypatch) -> None:
    from policies.kubeapi import views

    monkeypatch.setattr(views, "BOOKMARK_SECONDS", 0)
    version = shop.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    shop.send("post", DEPLOYMENTS, _deployment())  # another kind's change moves the watch on too
    head = shop.get(DEPLOYMENTS).json()["metadata"]["resourceVersion"]
    response = shop.get(
        f"{CONFIGMAPS}?watch=1&allowWatchBookmarks=true&resourceVersion={version}&timeoutSeconds=1"
    )
    events = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[-1]["object"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": head},
    }


def test_the_scale_subresource_sets_the_replicas(cast, shop) -> None:
    shop.send("post", DEPLOYMENTS, _deployment(replicas=2))
    scale = shop.get(f"{DEPLOYMENTS}/web/scale").json()
    assert (
        scale["kind"] == "Scale"
        and scale["spec"]["replicas"] == 2
        and scale["status"]["selector"] == "app=web"
    )
    patched = shop.send(
        "patch", f"{DEPLOYMENTS}/web/scale", {"spec": {"replicas": 5}}, "application/merge-patch+json"
    )
    assert patched.status_code == 200 and patched.json()["spec"]["replicas"] == 5
    assert Workload.objects.get(organization=cast.org_a, name="web").desired_replicas == 5
    refused = shop.send("put", f"{DEPLOYMENTS}/web/scale", {**scale, "spec": {"replicas": -1}})
    assert refused.status_code == 422


def test_a_workload_submitted_through_the_rest_api_is_served_by_the_endpoint(cast, kube, policy) -> None:
    from tests.fixtures.federation import submit
    from workers.federation import run_pass

    config = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "b"}}
    )
    workload = submit(cast, deployment() + "---\n" + config, policy("default", strategy="cheapest"))
    run_pass(str(cast.org_a.pk))
    assert kube.get("/k8s/api/v1/namespaces/shop").status_code == 200
    assert kube.get(f"{CONFIGMAPS}/conf").json()["data"] == {"a": "b"}
    served = kube.get(f"{DEPLOYMENTS}/web").json()
    assert served["spec"]["replicas"] == 2 and served["metadata"]["generation"] == 1
    patched = kube.send(
        "patch", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 3}}, "application/merge-patch+json"
    )
    assert patched.status_code == 200
    assert Workload.objects.get(pk=workload.pk).desired_replicas == 3  # the same row
    run_pass(str(cast.org_a.pk))
    assert [i["metadata"]["name"] for i in kube.get(DEPLOYMENTS).json()["items"]] == ["web"]


def test_a_read_only_token_reads_and_is_refused_writes(cast, shop) -> None:
    from tenants import services as tenant_services
    from tenants.actors import Actor

    _, plaintext = tenant_services.api_token_create(
        cast.org_a, actor=Actor(user=cast.alice), name="viewer", scopes=["read"]
    )
    reader = Kube(plaintext)
    assert reader.get(CONFIGMAPS).status_code == 200
    refused = reader.send(
        "post", CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    )
    assert refused.status_code == 403 and refused.json()["reason"] == "Forbidden"
    assert "'write' scope" in refused.json()["message"]


def test_a_dry_run_checks_everything_and_stores_nothing(cast, shop) -> None:
    response = shop.send("post", f"{DEPLOYMENTS}?dryRun=All", _deployment())
    assert response.status_code == 201 and response.json()["metadata"]["name"] == "web"
    assert shop.get(f"{DEPLOYMENTS}/web").status_code == 404
    assert not Workload.objects.filter(organization=cast.org_a).exists()
    assert shop.send("post", f"{DEPLOYMENTS}?dryRun=All", _deployment(replicas=-1)).status_code == 422


def test_a_secret_is_stored_encrypted_and_its_string_data_becomes_data(cast, shop) -> None:
    from policies.models import KubeEvent, KubeObject

    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"password": "hunter2"},
    }
    created = shop.send("post", "/k8s/api/v1/namespaces/shop/secrets", secret).json()
    assert created["data"] == {"password": "aHVudGVyMg=="} and "stringData" not in created
    stored = KubeObject.objects.get(organization=cast.org_a, kind="Secret")
    assert "hunter2" not in json.dumps(stored.body) and "aHVudGVyMg" not in json.dumps(stored.body)
    assert stored.ciphertext and "aHVudGVyMg" not in stored.ciphertext
    event = KubeEvent.objects.filter(organization=cast.org_a, resource="secrets").get()
    assert event.object == {} and "aHVudGVyMg" not in event.ciphertext


def test_deleting_a_namespace_deletes_what_is_in_it_once_the_members_let_go(cast, shop) -> None:
    from workers.federation import run_pass

    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "b"}}
    shop.send("post", CONFIGMAPS, config)
    shop.send("post", DEPLOYMENTS, _deployment())
    deleted = shop.client.delete("/k8s/api/v1/namespaces/shop", **shop.headers)
    assert deleted.status_code == 200 and deleted.json()["status"] == {"phase": "Terminating"}
    # As a cluster's namespace controller does: the content goes after the delete answered.
    assert "deletionTimestamp" in shop.get(f"{CONFIGMAPS}/conf").json()["metadata"]
    assert "deletionTimestamp" in shop.get(f"{DEPLOYMENTS}/web").json()["metadata"]
    assert Workload.objects.get(organization=cast.org_a, name="web").deleted_at is not None
    run_pass(str(cast.org_a.pk))  # no member holds it: the workload goes, then the namespace
    run_pass(str(cast.org_a.pk))
    assert shop.get(f"{DEPLOYMENTS}/web").status_code == 404
    assert shop.get(f"{CONFIGMAPS}/conf").status_code == 404
    assert shop.get("/k8s/api/v1/namespaces/shop").status_code == 404
    refused = shop.client.delete("/k8s/api/v1/namespaces/default", **shop.headers)
    assert refused.status_code == 403


def test_a_namespace_without_workloads_goes_at_the_pass_its_deletion_asks_for(cast, kube, worker) -> None:
    """Its content stays, deleting, until the pass removes it with the namespace (kubectl's
    later deletes of that content find it)."""
    with worker.committing():
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tools"}}
        assert kube.send("post", "/k8s/api/v1/namespaces", namespace).status_code == 201
        config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}, "data": {"a": "b"}}
        assert kube.send("post", "/k8s/api/v1/namespaces/tools/configmaps", config).status_code == 201
        worker.sent.clear()
        deleted = kube.client.delete("/k8s/api/v1/namespaces/tools", **kube.headers)
    assert deleted.status_code == 200 and deleted.json()["status"] == {"phase": "Terminating"}
    again = kube.client.delete("/k8s/api/v1/namespaces/tools/configmaps/conf", **kube.headers)
    assert again.status_code == 200 and "deletionTimestamp" in again.json()["metadata"]
    assert [name for name, _ in worker.sent] == ["workers.tasks.federation_pass"]
    worker.run()
    assert kube.get("/k8s/api/v1/namespaces/tools/configmaps/conf").status_code == 404
    assert kube.get("/k8s/api/v1/namespaces/tools").status_code == 404
    empty = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "empty"}}
    assert kube.send("post", "/k8s/api/v1/namespaces", empty).status_code == 201
    assert kube.client.delete("/k8s/api/v1/namespaces/empty", **kube.headers).status_code == 200
    assert kube.get("/k8s/api/v1/namespaces/empty").status_code == 404  # nothing in it: gone at once


def test_an_idle_policy_watch_writes_keep_alives(kube, policy, monkeypatch) -> None:
    """A FederationPolicy watch with nothing to report still writes (one space, which JSON
    decoders skip), so a client that went away is found and the watch ends, releasing its
    server thread and database session, as the objects' watches do."""
    from policies.kubeapi import operations

    monkeypatch.setattr(operations, "KEEPALIVE_SECONDS", 0.2)
    policy("default", strategy="cheapest")
    response = kube.get("/k8s/apis/policy.nodeless.io/v1alpha1/federationpolicies?watch=1")
    assert response.status_code == 200
    first = next(iter(response.streaming_content))
    response.close()
    assert first.strip() == b""


def test_an_object_request_does_not_read_the_custom_resource_definitions(cast, shop) -> None:
    """Only discovery lists what the organization serves; a built-in kind's write needs none of it."""
    with CaptureQueriesContext(connection) as captured:
        created = shop.send("post", DEPLOYMENTS, _deployment())
    assert created.status_code == 201, created.json()
    assert Workload.objects.filter(organization=cast.org_a, namespace="shop", name="web").exists()
    assert not [q["sql"] for q in captured.captured_queries if "CustomResourceDefinition" in q["sql"]]


def test_a_deployment_whose_workload_is_still_being_removed_is_refused_and_not_stored(
    cast, shop, api_a
) -> None:
    submitted = api_a.post("/api/v1/workloads/", {"manifest": deployment()}, format="json").json()
    assert api_a.delete(f"/api/v1/workloads/{submitted['id']}/").status_code == 202
    before = KubeCounter.objects.get(organization=cast.org_a).resource_version

    refused = shop.send("post", DEPLOYMENTS, _deployment())

    assert refused.status_code == 422, refused.json()
    assert "web is still being removed from its clusters" in refused.json()["message"]
    assert shop.get(f"{DEPLOYMENTS}/web").status_code == 404
    assert KubeCounter.objects.get(organization=cast.org_a).resource_version == before
