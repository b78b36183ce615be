"""The simulated clusters' load balancer controllers: LoadBalancer Services and Ingresses get the
addresses the real controllers give them (EKS: ELB DNS names; elsewhere: MetalLB and ingress-nginx
addresses), only for what they serve, and a cluster without them leaves every address unset."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from simulator.api import ClusterApi
from simulator.clock import ManualClock
from simulator.controllers.base import ControllerManager
from simulator.controllers.load_balancers import (
    LoadBalancerController,
    address_pool,
    ingress_controller_address,
)
from simulator.resources import INGRESSES, SERVICES
from simulator.store import ObjectStore


def _manager(*, eks: bool) -> tuple[ClusterApi, ControllerManager]:
    clock = ManualClock()
    api = ClusterApi(ObjectStore(clock), clock)
    controller = LoadBalancerController(api, cluster="east", eks=eks, region="eu-west-1")
    return api, ControllerManager(api.store, clock, [controller])


def _service(name: str, kind: str = "LoadBalancer") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"type": kind, "ports": [{"port": 80}]}}


def _ingress(name: str, ingress_class: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}
    if ingress_class:
        spec["ingressClassName"] = ingress_class
    return {"metadata": {"name": name}, "spec": spec}


def _balancers(api: ClusterApi, resource: Any, name: str) -> list[dict[str, Any]]:
    status = api.get(resource, "default", name).obj.get("status") or {}
    return list((status.get("loadBalancer") or {}).get("ingress") or [])


def test_on_eks_services_and_alb_ingresses_get_elb_names_and_other_classes_none() -> None:
    api, manager = _manager(eks=True)
    api.create(SERVICES, "default", _service("web"))
    api.create(SERVICES, "default", _service("internal", "ClusterIP"))
    api.create(INGRESSES, "default", _ingress("web"))
    api.create(INGRESSES, "default", _ingress("other", "traefik"))
    manager.settle()
    [service] = _balancers(api, SERVICES, "web")
    assert service["hostname"].endswith(".eu-west-1.elb.amazonaws.com")
    [ingress] = _balancers(api, INGRESSES, "web")
    assert ingress["hostname"].startswith("k8s-default-web-")
    assert ingress["hostname"].endswith(".eu-west-1.elb.amazonaws.com")
    assert _balancers(api, SERVICES, "internal") == []
    assert _balancers(api, INGRESSES, "other") == []  # no controller of that class runs here


def test_elsewhere_services_get_distinct_pool_addresses_kept_until_no_longer_load_balancers() -> None:
    api, manager = _manager(eks=False)
    api.create(SERVICES, "default", _service("one"))
    api.create(SERVICES, "default", _service("two"))
    api.create(INGRESSES, "default", _ingress("web", "nginx"))
    manager.settle()
    one, two = _balancers(api, SERVICES, "one"), _balancers(api, SERVICES, "two")
    assert one[0]["ip"] != two[0]["ip"]
    assert {ipaddress.ip_address(one[0]["ip"]), ipaddress.ip_address(two[0]["ip"])} <= set(
        address_pool("east")
    )
    assert ingress_controller_address("east") not in (one[0]["ip"], two[0]["ip"])
    assert _balancers(api, INGRESSES, "web") == [{"ip": ingress_controller_address("east")}]
    api.update(SERVICES, "default", "two", lambda s: s["spec"].update(type="ClusterIP"))
    api.update(SERVICES, "default", "one", lambda s: s["metadata"].update(labels={"tier": "front"}))
    manager.settle()
    assert _balancers(api, SERVICES, "two") == []
    assert _balancers(api, SERVICES, "one") == one  # an address once given is kept


def test_two_clusters_pools_differ() -> None:
    assert address_pool("east") != address_pool("west")
    assert all(pool.subnet_of(ipaddress.IPv4Network("172.16.0.0/12")) for pool in map(address_pool, "abc"))


@pytest.mark.parametrize("load_balancers", [True, False])
def test_a_cluster_without_load_balancer_controllers_leaves_addresses_unset(
    simulated_cluster, load_balancers: bool
) -> None:
    sim = simulated_cluster(load_balancers=load_balancers, run_controllers=True)
    sim.api.create(SERVICES, "default", _service("web"))
    sim.controllers.settle()
    assert bool(_balancers(sim.api, SERVICES, "web")) is load_balancers
