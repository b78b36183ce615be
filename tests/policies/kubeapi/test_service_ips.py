"""Services on the endpoint get cluster IPs as kube-apiserver gives them (Flux's health check holds
a LoadBalancer Service InProgress without one; ``kubectl get services`` prints it): one of the
service range each, or a free one asked for; kept by updates that leave it out; immutable; none
for ExternalName, ``None`` kept for headless ones. Members never get the endpoint's address."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from policies.federation.manifests import cluster_addresses_removed
from policies.kubeapi.defaults import defaulted
from policies.kubeapi.service_ips import SERVICE_RANGE

pytestmark = pytest.mark.django_db
SERVICES = "/k8s/api/v1/namespaces/shop/services"
MERGE = "application/merge-patch+json"


def _service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec},
    }


def _created(shop: Any, name: str, **spec: Any) -> dict[str, Any]:
    created = shop.send("post", SERVICES, _service(name, **spec))
    assert created.status_code == 201, created.json()
    return dict(created.json())


def _kstatus(service: dict[str, Any]) -> str:
    """Flux's health check of a Service (kstatus ``serviceConditions``)."""
    spec = service["spec"]
    if spec.get("type", "ClusterIP") == "LoadBalancer" and not spec.get("clusterIP"):
        return "InProgress"
    return "Current"


def test_each_service_gets_its_own_address_of_the_range_and_flux_calls_a_load_balancer_current(shop) -> None:
    web = _created(shop, "web", type="LoadBalancer")
    api = _created(shop, "api")
    addresses = [web["spec"]["clusterIP"], api["spec"]["clusterIP"]]
    assert addresses[0] != addresses[1]
    assert all(ipaddress.ip_address(a) in SERVICE_RANGE for a in addresses)
    assert web["spec"]["clusterIPs"] == [addresses[0]]
    assert _kstatus(web) == "Current"
    # kube-apiserver's Service defaults come with it.
    assert web["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert (web["spec"]["sessionAffinity"], web["spec"]["externalTrafficPolicy"]) == ("None", "Cluster")


def test_an_update_leaving_it_out_keeps_it_and_one_changing_it_is_refused(shop) -> None:
    web = _created(shop, "web")
    address, version = web["spec"]["clusterIP"], web["metadata"]["resourceVersion"]
    replaced = _service("web")
    replaced["metadata"]["resourceVersion"] = version
    put = shop.send("put", f"{SERVICES}/web", replaced)
    assert put.status_code == 200, put.json()
    # Nothing else changed either: kube-apiserver writes nothing.
    assert (put.json()["spec"]["clusterIP"], put.json()["metadata"]["resourceVersion"]) == (address, version)
    moved = shop.send("patch", f"{SERVICES}/web", {"spec": {"clusterIP": "10.96.0.99"}}, content_type=MERGE)
    assert moved.status_code == 422
    assert moved.json()["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.clusterIP",
            "message": 'Invalid value: "10.96.0.99": field is immutable',
        }
    ]


def test_an_address_asked_for_must_be_of_the_range_and_free(shop) -> None:
    taken = _created(shop, "web", clusterIP="10.96.7.7")["spec"]["clusterIP"]
    assert taken == "10.96.7.7"
    again = shop.send("post", SERVICES, _service("api", clusterIP="10.96.7.7"))
    assert again.status_code == 422
    assert "provided IP is already allocated" in again.json()["message"]
    outside = shop.send("post", SERVICES, _service("db", clusterIP="192.168.1.1"))
    assert outside.status_code == 422
    assert "is not in the valid range. The range of valid IPs is 10.96.0.0/12" in outside.json()["message"]
    garbled = shop.send("post", SERVICES, _service("db", clusterIP="ten"))
    assert garbled.status_code == 422 and "must be a valid IP address" in garbled.json()["message"]


def test_headless_and_external_name_services_get_none(shop) -> None:
    headless = _created(shop, "peers", clusterIP="None")
    assert (headless["spec"]["clusterIP"], headless["spec"]["clusterIPs"]) == ("None", ["None"])
    external = shop.send(
        "post",
        SERVICES,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "mail"},
            "spec": {"type": "ExternalName", "externalName": "mail.example.com"},
        },
    )
    assert external.status_code == 201, external.json()
    assert "clusterIP" not in external.json()["spec"]


def test_members_get_neither_the_endpoints_address_nor_lose_a_headless_none() -> None:
    stored = defaulted("", _service("web", clusterIP="10.96.7.7", clusterIPs=["10.96.7.7"]))
    sent = cluster_addresses_removed(stored)
    assert "clusterIP" not in sent["spec"] and "clusterIPs" not in sent["spec"]
    assert stored["spec"]["clusterIP"] == "10.96.7.7"  # the stored object is left as it is
    headless = _service("peers", clusterIP="None")
    assert cluster_addresses_removed(headless) is headless
