"""What a member refused shows on the endpoint as Karmada shows it (``policies.kubeapi.propagation``):
a ``FullyApplied`` condition on the federated object and ``SyncFailed`` Warning events on it, read
with the official Python client as ``kubectl describe`` reads them (core/v1 events selected by
``involvedObject``). Members refuse for real: one without the custom resource's CRD, one whose
RBAC does not let Nodeless write ConfigMaps (403, as kube-apiserver words it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from policies.kubeapi import propagation
from policies.kubeapi.standalone import POLICY_ANNOTATION
from policies.models import Propagation, Workload
from simulator.auth import READ_ONLY, Identity, PermissionSet, PolicyRule
from tests.fixtures.federation import pool
from tests.fixtures.simulation import kube_api, wait_for
from tests.policies.kubeapi.conftest import Kube
from tests.simulator.test_crds import GROUP, PLURAL, VERSION, crontab, definition

pytestmark = pytest.mark.django_db(transaction=True)


def _settled(check: Callable[[], Any]) -> Any:
    return wait_for(check, timeout=60.0, interval=0.3)


def _condition(obj: dict[str, Any]) -> dict[str, Any]:
    found = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "FullyApplied"]
    return found[0] if found else {}


def _events(core: Any, kind: str, name: str) -> list[Any]:
    selector = f"involvedObject.kind={kind},involvedObject.name={name},involvedObject.namespace=shop"
    return list(core.list_namespaced_event("shop", field_selector=selector).items)


def _namespace(core: Any) -> None:
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})


def test_a_member_without_the_crd_shows_as_a_false_condition_and_one_counted_event(
    cast, api, kubectl, member, policy, federation_loop, monkeypatch
) -> None:
    monkeypatch.setattr(propagation, "EVENT_REFRESH", timedelta(0))  # every pass is a repeat
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(1),))
    west = member("west", {"cloud": "aws", "region": "us-west-2"}, pools=(pool(1),))
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    kube_api(kube.ApiextensionsV1Api, east.api_client).create_custom_resource_definition(definition())
    core: Any = kube.CoreV1Api(api)
    custom: Any = kube.CustomObjectsApi(api)
    _namespace(core)
    kube_api(kube.ApiextensionsV1Api, api).create_custom_resource_definition(definition())
    tab = crontab("nightly", replicas=2)
    tab["metadata"]["annotations"] = {POLICY_ANNOTATION: "everywhere"}
    custom.create_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, tab)

    def refused() -> dict[str, Any]:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, "nightly")
        return (
            obj if _condition(obj).get("status") == "False" and "west" in _condition(obj)["message"] else {}
        )

    obj = _settled(refused)
    found = _condition(obj)
    assert found["reason"] == "FullyAppliedFailed"
    assert "cluster west:" in found["message"] and "not installed" in found["message"]
    assert "east" not in found["message"]
    assert found["observedGeneration"] == obj["metadata"]["generation"]
    refused_since = found["lastTransitionTime"]

    # One event per (object, member, reason); repeats bump its count instead of adding events.
    _settled(lambda: [e for e in _events(core, "CronTab", "nightly") if (e.count or 0) >= 3])
    events = _events(core, "CronTab", "nightly")
    assert len(events) == 1
    event = events[0]
    assert (event.type, event.reason) == ("Warning", "SyncFailed")
    assert "member cluster(west)" in event.message and "CustomResourceDefinition" in event.message
    assert event.involved_object.uid == obj["metadata"]["uid"]
    assert event.involved_object.api_version == f"{GROUP}/{VERSION}"
    # Still refused: the transition time has not moved.
    assert (
        _condition(custom.get_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, "nightly"))[
            "lastTransitionTime"
        ]
        == refused_since
    )

    # kubectl describe finds the event by involvedObject; kubectl get prints the event columns.
    described = kubectl("describe", "crontab", "nightly", "-n", "shop")
    assert described.returncode == 0, described.stderr
    assert "SyncFailed" in described.stdout and "member cluster(west)" in described.stdout
    listed = kubectl("get", "events", "-n", "shop")
    assert listed.returncode == 0, listed.stderr
    assert "SyncFailed" in listed.stdout and "crontab/nightly" in listed.stdout

    # Installed there, it arrives and the condition turns True.
    kube_api(kube.ApiextensionsV1Api, west.api_client).create_custom_resource_definition(definition())

    def applied() -> dict[str, Any]:
        found = _condition(custom.get_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, "nightly"))
        return found if found.get("status") == "True" else {}

    assert _settled(applied)["reason"] == "FullyAppliedSuccess"
    # Events select by other fields, and are written by Nodeless only.
    assert core.list_namespaced_event("shop", field_selector="reason=Scheduled").items == []
    with pytest.raises(ApiException) as refused_write:
        core.create_namespaced_event("shop", {"metadata": {"name": "mine"}, "involvedObject": {}})
    assert refused_write.value.status == 405


def _configmaps_forbidden(member: Any) -> None:
    """The member's owner lets Nodeless's credentials do anything but write ConfigMaps."""
    writes = ["namespaces", "services", "secrets", "serviceaccounts", "deployments", "pods"]
    rules = (*READ_ONLY.rules, PolicyRule.of(["*"], ["", "apps"], writes))
    member.sim.add_token(member.sim.admin_token, Identity("nodeless", PermissionSet("no-configmaps", rules)))


def test_a_refused_companion_names_itself_on_the_workload_condition_events_and_page(
    cast, api, member, policy, federation_loop, owner_client
) -> None:
    west = member("west", {"cloud": "aws", "region": "us-west-2"}, pools=(pool(2),))
    _configmaps_forbidden(west)
    policy("sticky", strategy="spread", spread={"spread_by": "cluster"}, on_failure="sticky")
    core: Any = kube.CoreV1Api(api)
    apps: Any = kube.AppsV1Api(api)
    _namespace(core)
    core.create_namespaced_config_map(
        "shop",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}},
    )
    container = {
        "name": "app",
        "image": "nginx:1.27",
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        "envFrom": [{"configMapRef": {"name": "settings"}}],
    }
    apps.create_namespaced_deployment(
        "shop",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}},
            },
        },
    )

    def refused() -> Any:
        status = apps.read_namespaced_deployment_status("web", "shop").status or kube.V1DeploymentStatus()
        found = [c for c in status.conditions or [] if c.type == "FullyApplied" and c.status == "False"]
        return found[0] if found and "cluster west" in (found[0].message or "") else None

    found = _settled(refused)
    assert found.reason == "FullyAppliedFailed"
    assert "ConfigMap/settings" in found.message and "forbidden" in found.message
    # The aggregated status is still there beside it.
    status = apps.read_namespaced_deployment_status("web", "shop").status or kube.V1DeploymentStatus()
    assert {"Available", "Progressing", "Federated"} <= {c.type for c in status.conditions or []}
    # Its warnings (the federation's Placed event is beside them, decision_events).
    events = _settled(lambda: [e for e in _events(core, "Deployment", "web") if e.type == "Warning"])
    assert [(e.type, e.reason) for e in events] == [("Warning", "SyncFailed")]
    assert "member cluster(west)" in events[0].message and "ConfigMap/settings" in events[0].message

    # A custom resource naming the policy, refused there too (no CRD on west).
    kube_api(kube.ApiextensionsV1Api, api).create_custom_resource_definition(definition())
    tab = crontab("nightly")
    tab["metadata"]["annotations"] = {POLICY_ANNOTATION: "sticky"}
    kube.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, tab)
    _settled(lambda: Propagation.objects.filter(name="nightly").exclude(problem="").exists())

    # The workload's page shows the member's refusal next to the placement, and the objects of
    # its namespace a member refused.
    workload = Workload.objects.get(organization=cast.org_a, name="web")
    page = owner_client.get(reverse("workload-detail", args=[workload.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and 'id="propagation-problems"' in text
    assert "ConfigMap/settings" in text and "forbidden" in text
    assert 'id="object-problems"' in text and "CronTab/nightly" in text and "not installed" in text

    # Another organization's token sees none of it.
    outsider = Kube(cast.token_b_plaintext)
    assert outsider.get(f"/k8s/api/v1/namespaces/shop/events/{events[0].metadata.name}").status_code == 404
    assert outsider.get("/k8s/api/v1/events").json()["items"] == []
    assert Kube(cast.token_a_plaintext).get("/k8s/api/v1/events").json()["items"] != []


def test_a_custom_resource_without_a_status_subresource_keeps_status_in_the_main_object(api) -> None:
    """As kube-apiserver stores such a resource: the status a create or update sends is kept, and
    an update without one drops it (so the FullyApplied condition lives there too); no /status."""
    crd = definition()
    del crd["spec"]["versions"][0]["subresources"]
    kube_api(kube.ApiextensionsV1Api, api).create_custom_resource_definition(crd)
    core: Any = kube.CoreV1Api(api)
    custom: Any = kube.CustomObjectsApi(api)
    _namespace(core)
    tab = crontab("nightly") | {"status": {"phase": "Sent"}}
    created = custom.create_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, tab)
    assert created["status"] == {"phase": "Sent"}
    patched = custom.patch_namespaced_custom_object(
        GROUP, VERSION, "shop", PLURAL, "nightly", {"status": {"phase": "Patched"}}
    )
    assert patched["status"] == {"phase": "Patched"}
    replaced = custom.replace_namespaced_custom_object(
        GROUP, VERSION, "shop", PLURAL, "nightly", {k: v for k, v in patched.items() if k != "status"}
    )
    assert "status" not in replaced
    with pytest.raises(ApiException) as no_subresource:
        custom.get_namespaced_custom_object_status(GROUP, VERSION, "shop", PLURAL, "nightly")
    assert no_subresource.value.status == 404
