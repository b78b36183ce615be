"""The official Python client against the endpoint: FederationPolicy as a custom object on the same
rows the REST API edits, a Deployment placed by the policy its annotation names, its status
(replicas, conditions, per-cluster breakdown) followed with a watch, and 422 Status errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes import client as kube
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from policies.kubeapi.tables import clusters_served
from policies.models import FederationPolicy, Workload
from tests.fixtures.federation import deployment, pool

pytestmark = pytest.mark.django_db(transaction=True)
GROUP, VERSION, PLURAL = "policy.nodeless.io", "v1alpha1", "federationpolicies"


def _policy(name: str, **spec: object) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FederationPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_federation_policies_are_custom_objects_on_the_rest_api_rows(cast, api, api_a) -> None:
    custom: Any = kube.CustomObjectsApi(api)  # answers plain dicts
    created = custom.create_cluster_custom_object(
        GROUP,
        VERSION,
        PLURAL,
        _policy("web-prod", strategy="spread", workloadSelector={"namespaces": ["shop"], "labels": {}})
        | {"metadata": {"name": "web-prod", "labels": {"app.kubernetes.io/instance": "shop"}}},
    )
    assert created["spec"]["strategy"] == "spread" and created["metadata"]["resourceVersion"] == "1"
    assert created["metadata"]["labels"] == {"app.kubernetes.io/instance": "shop"}  # GitOps tracking
    row = FederationPolicy.objects.get(organization=cast.org_a, name="web-prod")
    assert row.workload_namespaces == ["shop"]
    rest = api_a.get("/api/v1/federation-policies/").json()["results"]
    assert [p["name"] for p in rest] == ["web-prod"]
    # A change through the REST API shows on the endpoint, at a new resourceVersion.
    assert (
        api_a.patch(
            f"/api/v1/federation-policies/{row.pk}/", {"strategy": "cheapest"}, format="json"
        ).status_code
        == 200
    )
    fetched = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, "web-prod")
    assert fetched["spec"]["strategy"] == "cheapest" and fetched["metadata"]["resourceVersion"] == "2"
    assert fetched["metadata"]["labels"] == {"app.kubernetes.io/instance": "shop"}
    with pytest.raises(ApiException) as refused:
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, _policy("broken", strategy="fastest"))
    status = json.loads(refused.value.body or "{}")
    assert refused.value.status == 422 and status["details"]["causes"][0]["field"] == "spec.strategy"


def test_a_deployment_is_placed_by_its_annotated_policy_and_reports_status(
    cast, api, member, policy, federation_loop
) -> None:
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    policy("default", strategy="cheapest")
    chosen = policy("pinned-east", strategy="pinned", pinned=["east"])
    core: Any = kube.CoreV1Api(api)  # dict manifests, as the other tests pass them
    apps: Any = kube.AppsV1Api(api)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    web = yaml.safe_load(deployment(replicas=2))
    web["metadata"]["annotations"] = {"policy.nodeless.io/name": "pinned-east"}
    created = apps.create_namespaced_deployment("shop", web)
    assert created.metadata.generation == 1
    workload = Workload.objects.get(organization=cast.org_a, name="web")
    assert workload.policy == chosen

    stream = watch.Watch()
    ready = marked = None
    for event in stream.stream(
        apps.list_namespaced_deployment,
        "shop",
        field_selector="metadata.name=web",
        resource_version=created.metadata.resource_version,
        timeout_seconds=300,
    ):
        found = event["object"]
        if (
            ready is None
            and (found.status.ready_replicas or 0) == 2
            and found.status.observed_generation == 1
        ):
            ready = found
            # A change made now shows on this same watch while it is open. Were events delivered
            # only when the watch ends (a response buffered to its end), they would all come after
            # the 300 s, this change after the last of them, and the loop would end without it.
            apps.patch_namespaced_deployment("web", "shop", {"metadata": {"labels": {"seen": "ready"}}})
        elif ready is not None and (found.metadata.labels or {}).get("seen") == "ready":
            marked = found
            stream.stop()
    assert ready is not None, "the Deployment never reported 2 ready replicas"
    assert marked is not None, "a change made during the watch did not show on it"
    assert {c.type: c.status for c in ready.status.conditions}["Available"] == "True"
    raw = json.loads(apps.read_namespaced_deployment("web", "shop", _preload_content=False).data)
    assert [(c["name"], c["replicas"], c["readyReplicas"]) for c in clusters_served(raw)] == [("east", 2, 2)]
    assert east.deployment_replicas("shop", "web") == 2


def test_bad_objects_are_422_with_causes(api) -> None:
    core: Any = kube.CoreV1Api(api)  # dict manifests, as the other tests pass them
    apps: Any = kube.AppsV1Api(api)
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    web = yaml.safe_load(deployment(replicas=2))
    del web["spec"]["template"]["spec"]["containers"][0]["image"]
    with pytest.raises(ApiException) as refused:
        apps.create_namespaced_deployment("shop", web)
    status = json.loads(refused.value.body or "{}")
    assert refused.value.status == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"].startswith("spec.template.spec.containers[0]")
