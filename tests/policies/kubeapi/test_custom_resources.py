"""Custom resources through the endpoint with the official Python client: a CRD stored on the
endpoint makes its kind servable there; an object of it naming a policy goes to that policy's
members that have the CRD (the member client finds the kind through their discovery), and a member
without it says why, until its CRD is installed there; deleting the object removes it from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from policies.kubeapi.standalone import POLICY_ANNOTATION
from policies.models import Propagation
from tests.fixtures.federation import pool
from tests.fixtures.simulation import kube_api, wait_for
from tests.simulator.test_crds import GROUP, PLURAL, VERSION, crontab, definition

pytestmark = pytest.mark.django_db(transaction=True)


def _settled(check: Callable[[], Any]) -> Any:
    return wait_for(check, timeout=60.0, interval=0.3)


def _on(member: Any, name: str = "nightly") -> dict[str, Any] | None:
    custom = kube_api(kube.CustomObjectsApi, member.api_client)
    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def _install(member: Any) -> None:
    extensions = kube_api(kube.ApiextensionsV1Api, member.api_client)
    extensions.create_custom_resource_definition(definition())


def _tab_sent_everywhere(api: Any, crd: dict[str, Any]) -> Any:
    """On the endpoint: the shop namespace, the CRD, and a CronTab naming the policy "everywhere"; the
    endpoint's custom objects client."""
    endpoint_custom: Any = kube.CustomObjectsApi(api)
    endpoint_core: Any = kube.CoreV1Api(api)
    endpoint_extensions: Any = kube.ApiextensionsV1Api(api)
    endpoint_core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    endpoint_extensions.create_custom_resource_definition(crd)
    tab = crontab("nightly", replicas=2)
    tab["metadata"]["annotations"] = {POLICY_ANNOTATION: "everywhere"}
    endpoint_custom.create_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, tab)
    return endpoint_custom


def test_a_custom_resource_goes_to_the_policy_members_that_serve_its_kind(
    cast, api, member, policy, federation_loop
) -> None:
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(1),))
    west = member("west", {"cloud": "aws", "region": "us-west-2"}, pools=(pool(1),))
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    _install(east)
    # The endpoint takes the CRD, and then objects of its kind.
    endpoint_custom = _tab_sent_everywhere(api, definition())

    found = _settled(lambda: _on(east))
    assert found["spec"] == {"cronSpec": "* * * * */5", "replicas": 2}
    assert found["metadata"]["labels"]["nodeless.io/managed-by"] == "nodeless"

    def refused_on_west() -> str:
        row = Propagation.objects.filter(cluster=west.cluster, name="nightly").first()
        return row.problem if row is not None else ""

    problem = _settled(refused_on_west)
    assert "serves no CronTab in stable.example.com/v1" in problem and "not installed" in problem

    # Installed there, it arrives (the member client asks its discovery again).
    _install(west)
    _settled(lambda: _on(west) is not None)
    _settled(
        lambda: refused_on_west() == "" and Propagation.objects.filter(applied_version__gt=0).count() == 2
    )

    endpoint_custom.patch_namespaced_custom_object(
        GROUP, VERSION, "shop", PLURAL, "nightly", {"spec": {"replicas": 3}}
    )
    _settled(lambda: (_on(east) or {}).get("spec", {}).get("replicas") == 3)
    endpoint_custom.delete_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, "nightly")
    _settled(lambda: _on(east) is None and _on(west) is None)
    _settled(lambda: not Propagation.objects.filter(organization=cast.org_a).exists())


def _reporting_definition() -> dict[str, Any]:
    """The CRD with the status an operator writes (conditions, observedGeneration) kept whole."""
    found = definition()
    schema = found["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["status"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return found


def _operator_reports(member: Any, ready: str, message: str = "") -> None:
    """What the operator running in the member writes on its copy (its status subresource)."""
    custom = kube_api(kube.CustomObjectsApi, member.api_client)
    copy = custom.get_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, "nightly")
    condition = {"type": "Ready", "status": ready, "reason": "Scheduled" if ready == "True" else "Waiting"}
    status = {
        "observedGeneration": copy["metadata"]["generation"],
        "conditions": [{**condition, "message": message}],
        "lastRun": "2026-12-07T00:00:00Z",
    }
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "shop", PLURAL, "nightly", {"status": status}
    )


def test_a_custom_resource_takes_its_status_from_the_members_operators(
    cast, api, member, policy, federation_loop
) -> None:
    """Argo CD's health checks for operators' kinds and Flux's kstatus read Ready and
    observedGeneration: the endpoint's copy gathers the members' (one condition of each type, True
    only where every member says so, else the first that does not, named), and observedGeneration
    is the endpoint's generation once every member's operator has observed the copy of it."""
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(1),))
    west = member("west", {"cloud": "aws", "region": "us-west-2"}, pools=(pool(1),))
    policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    for one in (east, west):
        kube_api(kube.ApiextensionsV1Api, one.api_client).create_custom_resource_definition(
            _reporting_definition()
        )
    endpoint_custom = _tab_sent_everywhere(api, _reporting_definition())
    _settled(lambda: _on(east) is not None and _on(west) is not None)
    assert (_on(east) or {})["metadata"]["annotations"]["nodeless.io/generation"] == "1"

    def served_status() -> dict[str, Any]:
        found = endpoint_custom.get_namespaced_custom_object(GROUP, VERSION, "shop", PLURAL, "nightly")
        return dict(found.get("status") or {})

    def ready() -> dict[str, Any]:
        return next((c for c in served_status().get("conditions") or [] if c["type"] == "Ready"), {})

    _operator_reports(east, "True")
    _operator_reports(west, "False", "waiting for a schedule slot")
    condition = _settled(lambda: ready().get("status") == "False" and ready())
    assert condition["message"] == "west: waiting for a schedule slot"
    status = served_status()
    assert status["observedGeneration"] == 1 and status["lastRun"] == "2026-12-07T00:00:00Z"
    # The endpoint's own condition stays beside the operators': both members took the object.
    applied = next(c for c in status["conditions"] if c["type"] == "FullyApplied")
    assert applied["status"] == "True"

    _operator_reports(west, "True")
    _settled(lambda: ready().get("status") == "True")

    # A new generation: observedGeneration stays at 1 until both operators observed their copies of 2.
    endpoint_custom.patch_namespaced_custom_object(
        GROUP, VERSION, "shop", PLURAL, "nightly", {"spec": {"replicas": 3}}
    )
    _settled(lambda: all((_on(m) or {}).get("spec", {}).get("replicas") == 3 for m in (east, west)))
    _operator_reports(east, "True", "seen 2")
    _settled(lambda: ready().get("message") == "seen 2")
    assert served_status()["observedGeneration"] == 1
    _operator_reports(west, "True")
    _settled(lambda: served_status()["observedGeneration"] == 2)
