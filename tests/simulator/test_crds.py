"""CustomResourceDefinitions on the simulated API server, with the official Python client, as
kube-apiserver serves them (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
custom-resource-definitions/):

- "create a CustomResourceDefinition ... Then a new namespaced RESTful API endpoint is created at
  /apis/stable.example.com/v1/namespaces/*/crontabs/..." — once the CRD is Established (the page's
  `kubectl wait --for condition=established`); before that, and for kinds no CRD defines, 404;
- "Pruning ... unknown fields are dropped", validation against the schema is a 422;
- "When you delete a CustomResourceDefinition, the server will uninstall the RESTful API endpoint
  and delete all custom objects stored in it";
- a CRD needs a schema per version and exactly one storage version (apiextensions validation);
- strategic merge patch is not supported for custom resources ("Custom resources ... do not
  support strategic merge patch", https://kubernetes.io/docs/tasks/manage-kubernetes-objects/
  update-api-object-kubectl-patch/).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as kube
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from tests.fixtures.simulation import kube_api, wait_for

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["cronSpec"],
            "properties": {
                "cronSpec": {"type": "string"},
                "replicas": {"type": "integer", "minimum": 1},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}
GROUP, VERSION, PLURAL = "stable.example.com", "v1", "crontabs"


def definition(name: str = f"{PLURAL}.{GROUP}", kind: str = "CronTab", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": name.split(".")[0], "kind": kind, "shortNames": ["ct"]},
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": SCHEMA},
                    "subresources": {"status": {}},
                }
            ],
            **spec,
        },
    }


def crontab(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CronTab",
        "metadata": {"name": name},
        "spec": {"cronSpec": "* * * * */5", **spec},
    }


@pytest.fixture
def cluster(simulated_cluster, kube_client) -> tuple[Any, Any, Any]:
    sim = simulated_cluster(run_controllers=False)
    api_client = kube_client(sim)
    return sim, kube_api(kube.ApiextensionsV1Api, api_client), kube_api(kube.CustomObjectsApi, api_client)


def _send(
    api_client: Any, method: str, path: str, body: Any, content_type: str, query: list[Any] | None = None
) -> tuple[int, Any]:
    """A request with a given content type; (status, decoded body)."""
    params = api_client.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(*params)
    return response.status, json.loads(response.read() or b"null")


def _established(extensions: Any, name: str = f"{PLURAL}.{GROUP}") -> bool:
    conditions = extensions.read_custom_resource_definition(name).status.conditions or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def _served(api_client: Any) -> set[str]:
    try:
        found = kube_api(kube.CustomObjectsApi, api_client).get_api_resources(GROUP, VERSION)
    except ApiException as error:
        assert error.status == 404
        return set()
    return {r.name for r in found.resources}


def test_a_crd_is_served_once_established_and_its_objects_are_stored_listed_and_watched(cluster) -> None:
    sim, extensions, custom = cluster
    with pytest.raises(ApiException) as before:
        custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert before.value.status == 404
    assert json.loads(str(before.value.body))["reason"] == "NotFound"

    extensions.create_custom_resource_definition(definition())
    wait_for(lambda: _established(extensions), timeout=10)
    crd = extensions.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    assert crd.status.accepted_names.kind == "CronTab" and crd.status.stored_versions == [VERSION]
    assert crd.spec.names.list_kind == "CronTabList" and crd.spec.names.singular == "crontab"
    groups = {g.name: g for g in kube_api(kube.ApisApi, custom.api_client).get_api_versions().groups}
    assert groups[GROUP].preferred_version.version == VERSION
    assert {"crontabs", "crontabs/status"} <= _served(custom.api_client)

    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, timeout_seconds=5
    )
    created = custom.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, crontab("nightly", unknown="dropped", extra={"any": {"x": 1}})
    )
    # Pruned: a field the schema does not declare is gone; one under preserve-unknown-fields stays.
    assert "unknown" not in created["spec"] and created["spec"]["extra"] == {"any": {"x": 1}}
    first = next(stream)
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "nightly")
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert listed["kind"] == "CronTabList" and [i["metadata"]["name"] for i in listed["items"]] == ["nightly"]

    # Server-side apply takes it; the status subresource is apart from the main resource.
    code, applied = _send(
        custom.api_client,
        "PATCH",
        f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/nightly",
        crontab("nightly", replicas=3),
        "application/apply-patch+yaml",
        query=[("fieldManager", "tester"), ("force", "true")],
    )
    assert code == 200 and applied["spec"]["replicas"] == 3
    assert any(e["manager"] == "tester" for e in applied["metadata"]["managedFields"])


def test_objects_are_validated_against_the_schema_and_take_no_strategic_merge_patch(cluster) -> None:
    _, extensions, custom = cluster
    extensions.create_custom_resource_definition(definition())
    wait_for(lambda: _established(extensions), timeout=10)
    for bad, field, words in (
        (crontab("a", replicas="three"), "spec.replicas", "must be of type integer"),
        (crontab("b", replicas=0), "spec.replicas", "should be greater than or equal to 1"),
        (crontab("c", mode="medium"), "spec.mode", 'supported values: "fast", "slow"'),
        ({**crontab("d"), "spec": {}}, "spec.cronSpec", "Required value"),
    ):
        with pytest.raises(ApiException) as refused:
            custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, bad)
        status = json.loads(str(refused.value.body))
        assert refused.value.status == 422 and status["reason"] == "Invalid"
        assert [c["field"] for c in status["details"]["causes"]] == [field]
        assert words in status["message"]
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, crontab("ok"))
    path = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}/ok"
    code, _ = _send(
        custom.api_client, "PATCH", path, {"spec": {"replicas": 2}}, "application/strategic-merge-patch+json"
    )
    assert code == 415
    code, merged = _send(
        custom.api_client, "PATCH", path, {"spec": {"replicas": 2}}, "application/merge-patch+json"
    )
    assert code == 200 and merged["spec"]["replicas"] == 2


def test_a_crd_without_a_schema_or_storage_version_or_with_a_wrong_name_is_refused(cluster) -> None:
    _, extensions, _ = cluster
    no_schema = definition()
    del no_schema["spec"]["versions"][0]["schema"]
    two_storage = definition(
        versions=[
            {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}},
            {"name": "v2", "served": True, "storage": True, "schema": {"openAPIV3Schema": SCHEMA}},
        ]
    )
    for bad, words in (
        (no_schema, "schemas are required"),
        (two_storage, "must have exactly one version marked as storage version"),
        (definition(name="tabs.stable.example.com"), 'must be spec.names.plural+"."+spec.group'),
        (definition(group="example"), "should be a domain with at least one dot"),
    ):
        if bad["metadata"]["name"] == "tabs.stable.example.com":
            bad["spec"]["names"]["plural"] = "crontabs"
        with pytest.raises(ApiException) as refused:
            extensions.create_custom_resource_definition(bad)
        assert refused.value.status == 422 and words in json.loads(str(refused.value.body))["message"]


def test_a_crd_whose_names_are_taken_is_not_served(cluster) -> None:
    _, extensions, custom = cluster
    extensions.create_custom_resource_definition(definition())
    wait_for(lambda: _established(extensions), timeout=10)
    clash = definition(name=f"timers.{GROUP}", kind="CronTab")  # the kind CronTab is in use
    extensions.create_custom_resource_definition(clash)

    def names_refused() -> bool:
        conditions = extensions.read_custom_resource_definition(f"timers.{GROUP}").status.conditions or []
        return any(c.type == "NamesAccepted" and c.status == "False" for c in conditions)

    wait_for(names_refused, timeout=10)
    assert not _established(extensions, f"timers.{GROUP}")
    assert "timers" not in _served(custom.api_client)


def test_deleting_a_crd_deletes_its_objects_and_stops_serving_them(cluster) -> None:
    sim, extensions, custom = cluster
    extensions.create_custom_resource_definition(definition())
    wait_for(lambda: _established(extensions), timeout=10)
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, crontab("nightly"))
    extensions.delete_custom_resource_definition(f"{PLURAL}.{GROUP}")
    wait_for(lambda: not _served(custom.api_client), timeout=10)
    with pytest.raises(ApiException) as gone:
        custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "nightly")
    assert gone.value.status == 404

    # Defined again, it starts empty.
    extensions.create_custom_resource_definition(definition())
    wait_for(lambda: _established(extensions), timeout=10)
    assert custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"] == []
