"""Kinds served at several versions on the endpoint (Django's test client), one stored object read
and written at each, as kube-apiserver serves them: HorizontalPodAutoscalers at autoscaling/v1 and
v2 on every path, and a custom resource at each version its CRD serves."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engines.kube import autoscaling
from policies.federation.manifests import parse_manifest
from policies.models import KubeObject
from tests.fixtures.federation import deployment
from tests.policies.kubeapi.conftest import Kube
from tests.policies.kubeapi.test_endpoint import CRD

pytestmark = pytest.mark.django_db
V1 = "/k8s/apis/autoscaling/v1/namespaces/shop/horizontalpodautoscalers"
V2 = "/k8s/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers"
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
MERGE, APPLY = "application/merge-patch+json", "application/apply-patch+yaml"


def _v1(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 4, **spec},
    }


def _cpu(percent: int) -> dict[str, Any]:
    target = {"type": "Utilization", "averageUtilization": percent}
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


MEMORY = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}},
}
BEHAVIOR = {
    "scaleDown": {
        "stabilizationWindowSeconds": 600,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
    }
}


def _v2_with_more_than_v1_says() -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": REF,
            "maxReplicas": 4,
            "metrics": [_cpu(70), MEMORY],
            "behavior": BEHAVIOR,
        },
    }


def test_discovery_prefers_v2_and_serves_v1(shop) -> None:
    group = shop.get("/k8s/apis/autoscaling").json()
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]
    assert group["preferredVersion"]["version"] == "v2"
    listed = shop.get("/k8s/apis/autoscaling/v1").json()["resources"]
    assert {"horizontalpodautoscalers", "horizontalpodautoscalers/status"} <= {r["name"] for r in listed}
    # kubectl explain hpa --api-version=autoscaling/v1 reads v1's own schema.
    document = json.loads(b"".join(shop.get("/k8s/openapi/v3/apis/autoscaling/v1")))
    schemas = document["components"]["schemas"]
    spec = schemas["autoscaling.v1.HorizontalPodAutoscaler"]["properties"]["spec"]["allOf"][0]["$ref"]
    assert "targetCPUUtilizationPercentage" in schemas[spec.rsplit("/", 1)[1]]["properties"]


def test_created_at_v1_it_is_stored_as_v2_and_read_at_both(shop) -> None:
    created = shop.send("post", V1, _v1(targetCPUUtilizationPercentage=50))
    assert created.status_code == 201, created.json()
    answered = created.json()
    assert answered["apiVersion"] == "autoscaling/v1"
    # minReplicas is v2's default, read back through v1.
    assert answered["spec"] == {
        "scaleTargetRef": REF,
        "minReplicas": 1,
        "maxReplicas": 4,
        "targetCPUUtilizationPercentage": 50,
    }
    assert answered["status"] == {"currentReplicas": 0, "desiredReplicas": 0}
    stored = KubeObject.objects.get(kind="HorizontalPodAutoscaler", name="web")
    assert (stored.version, stored.body["apiVersion"]) == ("v2", "autoscaling/v2")
    at_v2 = shop.get(f"{V2}/web").json()
    assert at_v2["apiVersion"] == "autoscaling/v2" and at_v2["spec"]["metrics"] == [_cpu(50)]
    listed = shop.get(V1).json()
    assert (listed["kind"], listed["apiVersion"]) == ("HorizontalPodAutoscalerList", "autoscaling/v1")
    assert [item["spec"]["targetCPUUtilizationPercentage"] for item in listed["items"]] == [50]
    # Without a CPU target v1 means 80 %, the v2 default.
    shop.send("post", V1, {**_v1(), "metadata": {"name": "api"}})
    assert shop.get(f"{V2}/api").json()["spec"]["metrics"] == [_cpu(80)]
    assert shop.get(f"{V1}/api").json()["spec"]["targetCPUUtilizationPercentage"] == 80


def test_what_v1_cannot_say_survives_its_patches_and_puts(shop) -> None:
    assert shop.send("post", V2, _v2_with_more_than_v1_says()).status_code == 201
    read = shop.get(f"{V1}/web").json()
    assert read["spec"]["targetCPUUtilizationPercentage"] == 70
    annotations = read["metadata"]["annotations"]
    assert json.loads(annotations[autoscaling.METRICS_ANNOTATION]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}}
    ]
    assert autoscaling.BEHAVIOR_ANNOTATION in annotations

    # A JSON patch names v1's field: it applies to the object as v1 shows it.
    op = [{"op": "replace", "path": "/spec/targetCPUUtilizationPercentage", "value": 55}]
    patched = shop.send("patch", f"{V1}/web", op, "application/json-patch+json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["spec"]["targetCPUUtilizationPercentage"] == 55
    merged = shop.send("patch", f"{V1}/web", {"spec": {"targetCPUUtilizationPercentage": 60}}, MERGE)
    assert merged.status_code == 200, merged.json()
    # What was read at v1, written back whole with another maximum.
    read = shop.get(f"{V1}/web").json()
    read["spec"]["maxReplicas"] = 7
    assert shop.send("put", f"{V1}/web", read).status_code == 200

    stored = shop.get(f"{V2}/web").json()
    assert stored["spec"]["maxReplicas"] == 7
    # kube-apiserver's order: the annotation's metrics, then the CPU target.
    assert stored["spec"]["metrics"] == [MEMORY, _cpu(60)]
    down = stored["spec"]["behavior"]["scaleDown"]
    assert (down["stabilizationWindowSeconds"], down["policies"]) == (600, BEHAVIOR["scaleDown"]["policies"])
    assert not set(stored["metadata"].get("annotations") or {}) & set(autoscaling.ROUND_TRIP_ANNOTATIONS)


def test_server_side_apply_at_v1_owns_the_cpu_target(shop) -> None:
    def apply(manager: str, percent: int, *, force: bool = False) -> Any:
        query = f"fieldManager={manager}" + ("&force=true" if force else "")
        config = _v1(targetCPUUtilizationPercentage=percent)
        return shop.send("patch", f"{V1}/web?{query}", config, APPLY)

    first = apply("helm", 65)
    assert first.status_code == 201, first.json()
    assert first.json()["apiVersion"] == "autoscaling/v1"
    assert apply("helm", 75).status_code == 200
    assert shop.get(f"{V2}/web").json()["spec"]["metrics"] == [_cpu(75)]
    conflict = apply("flux", 50)
    assert conflict.status_code == 409, conflict.json()
    assert 'conflict with "helm"' in conflict.json()["message"]
    assert apply("flux", 50, force=True).status_code == 200
    assert shop.get(f"{V1}/web").json()["spec"]["targetCPUUtilizationPercentage"] == 50


def test_watches_and_tables_at_v1_show_v1_objects(shop) -> None:
    version = shop.get(V1).json()["metadata"]["resourceVersion"]
    shop.send("post", V2, _v2_with_more_than_v1_says())
    response = shop.get(f"{V1}?watch=1&resourceVersion={version}&timeoutSeconds=1")
    events = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [e["type"] for e in events] == ["ADDED"]
    assert events[0]["object"]["apiVersion"] == "autoscaling/v1"
    assert events[0]["object"]["spec"]["targetCPUUtilizationPercentage"] == 70

    accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    table = shop.get(f"{V1}?includeObject=Object", HTTP_ACCEPT=accept).json()
    row = table["rows"][0]
    assert row["object"]["apiVersion"] == "autoscaling/v1"
    columns = [c["name"] for c in table["columnDefinitions"]]
    # The cells read the stored object: every metric is a target there.
    assert "500Mi" in row["cells"][columns.index("Targets")]
    metadata_only = shop.get(f"{V1}/web", HTTP_ACCEPT=accept).json()["rows"][0]["object"]
    assert metadata_only["kind"] == "PartialObjectMetadata"
    assert autoscaling.METRICS_ANNOTATION in metadata_only["metadata"]["annotations"]


def test_a_body_of_another_version_or_with_v2_fields_is_a_400_that_says_so(shop) -> None:
    other = shop.send("post", V1, _v2_with_more_than_v1_says())
    assert other.status_code == 400
    assert "do not match the endpoint's autoscaling/v1" in other.json()["message"]
    mixed = shop.send("post", V1, _v1(metrics=[_cpu(50)]))
    assert mixed.status_code == 400
    assert (
        "spec.metrics: unknown field in an autoscaling/v1 HorizontalPodAutoscaler" in mixed.json()["message"]
    )
    broken = _v1()
    broken["metadata"]["annotations"] = {autoscaling.METRICS_ANNOTATION: "not json"}
    refused = shop.send("post", V1, broken)
    assert refused.status_code == 400
    assert autoscaling.METRICS_ANNOTATION in refused.json()["message"]
    assert not KubeObject.objects.filter(kind="HorizontalPodAutoscaler").exists()


def test_another_organization_sees_no_autoscaler_at_v1(cast, shop) -> None:
    shop.send("post", V1, _v1(targetCPUUtilizationPercentage=50))
    outsider = Kube(cast.token_b_plaintext)
    assert outsider.get(f"{V1}/web").status_code == 404
    assert outsider.get("/k8s/apis/autoscaling/v1/horizontalpodautoscalers").json()["items"] == []
    for method in ("put", "patch", "delete"):
        response = outsider.send(method, f"{V1}/web", _v1(), MERGE)
        assert response.status_code == 404, (method, response.json())
    assert shop.get(f"{V1}/web").json()["spec"]["targetCPUUtilizationPercentage"] == 50


def test_a_pasted_manifest_takes_a_v1_autoscaler_as_v2() -> None:
    v1 = {**_v1(targetCPUUtilizationPercentage=60), "metadata": {"name": "web", "namespace": "shop"}}
    parsed = parse_manifest(f"{deployment()}\n---\n{json.dumps(v1)}")
    (hpa,) = parsed.companions
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"] == [_cpu(60)]


def test_a_custom_resource_is_read_and_patched_at_each_version_its_definition_serves(shop) -> None:
    """A CRD without a conversion webhook converts by apiVersion alone (strategy None)."""
    crd = json.loads(json.dumps(CRD))
    schema = crd["spec"]["versions"][0]["schema"]
    crd["spec"]["versions"].append({"name": "v1beta1", "served": True, "storage": False, "schema": schema})
    assert (
        shop.send("post", "/k8s/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status_code
        == 201
    )
    old, new = (f"/k8s/apis/example.com/{v}/namespaces/shop/caches" for v in ("v1beta1", "v1"))
    cache = {
        "apiVersion": "example.com/v1beta1",
        "kind": "Cache",
        "metadata": {"name": "redis"},
        "spec": {"size": 3},
    }
    assert shop.send("post", old, cache).status_code == 201
    assert shop.get(f"{new}/redis").json()["apiVersion"] == "example.com/v1"
    assert [i["apiVersion"] for i in shop.get(new).json()["items"]] == ["example.com/v1"]
    patched = shop.send("patch", f"{new}/redis", {"spec": {"size": 5}}, MERGE)
    assert patched.status_code == 200, patched.json()
    assert (patched.json()["apiVersion"], patched.json()["spec"]) == ("example.com/v1", {"size": 5})
    assert shop.get(f"{old}/redis").json()["apiVersion"] == "example.com/v1beta1"
