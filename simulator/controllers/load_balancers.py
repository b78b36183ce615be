"""What a cluster's load balancer controllers write: the address of each `LoadBalancer` Service and
of each Ingress they serve, in ``status.loadBalancer.ingress`` (kubectl's EXTERNAL-IP and ADDRESS
columns; Argo CD's health check calls both Progressing until it is set, external-dns reads it).

- On EKS, as the AWS Load Balancer Controller (or the in-tree cloud provider) does: a DNS name
  under ``elb.amazonaws.com`` for each Service, and for each Ingress of class ``alb``.
- Elsewhere, as MetalLB and ingress-nginx do: an address from the cluster's pool (a private /24
  of its own, ``address_pool``) for each Service; each Ingress of class ``nginx`` gets the
  ingress controller's own address, the pool's tenth.

An Ingress without a class is served by the cluster's default class (``alb`` on EKS, ``nginx``
elsewhere); one of a class no controller here serves keeps no address, as on a real cluster. A
Service that stops being a `LoadBalancer` loses its address. A cluster without these controllers
(``ClusterConfig.load_balancers`` off) leaves every address unset, as a cluster without a cloud
provider or MetalLB does: the Service's EXTERNAL-IP stays ``<pending>``.
"""

from __future__ import annotations

import hashlib
import ipaddress

from simulator.api import ClusterApi
from simulator.controllers.workloads import update_status_if_changed
from simulator.resources import INGRESSES, SERVICES
from simulator.store_table import JsonObject


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def address_pool(cluster: str) -> ipaddress.IPv4Network:
    """The cluster's MetalLB pool: a /24 in 172.16.0.0/12 chosen by its name, so two clusters'
    addresses differ (as two sites' LAN ranges do)."""
    number = int(_digest(cluster)[:8], 16) % (16 * 256)
    return ipaddress.IPv4Network(f"172.{16 + number // 256}.{number % 256}.0/24")


def ingress_controller_address(cluster: str) -> str:
    return str(address_pool(cluster).network_address + 10)


class LoadBalancerController:
    name = "load-balancer-controller"
    watches = frozenset({SERVICES.key, INGRESSES.key})

    def __init__(self, api: ClusterApi, *, cluster: str, eks: bool, region: str) -> None:
        self.api = api
        self.cluster, self.eks, self.region = cluster, eks, region
        self.ingress_class = "alb" if eks else "nginx"

    def reconcile(self, now: float) -> float | None:
        services = [stored.obj for stored in self.api.store.list(SERVICES).items]
        taken = {
            str(entry.get("ip"))
            for service in services
            for entry in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if entry.get("ip")
        }
        for service in services:
            balanced = (service.get("spec") or {}).get("type") == "LoadBalancer"
            entries = self._service_entries(service, taken) if balanced else []
            update_status_if_changed(
                self.api, SERVICES, service, {"loadBalancer": {"ingress": entries} if entries else {}}
            )
        for stored in self.api.store.list(INGRESSES).items:
            ingress = stored.obj
            served = ((ingress.get("spec") or {}).get("ingressClassName") or self.ingress_class) == (
                self.ingress_class
            )
            entries = [self._ingress_entry(ingress)] if served else []
            update_status_if_changed(
                self.api, INGRESSES, ingress, {"loadBalancer": {"ingress": entries} if entries else {}}
            )
        return None

    def _service_entries(self, service: JsonObject, taken: set[str]) -> list[JsonObject]:
        current = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if current:
            return list(current)  # an address, once given, is kept
        meta = service["metadata"]
        if self.eks:
            digest = _digest(self.cluster, meta["namespace"], meta["name"])
            number = int(digest[32:40], 16) % 10**10
            return [{"hostname": f"a{digest[:32]}-{number}.{self.region}.elb.amazonaws.com"}]
        for address in address_pool(self.cluster).hosts():
            text = str(address)
            if text != ingress_controller_address(self.cluster) and text not in taken:
                taken.add(text)
                return [{"ip": text, "ipMode": "VIP"}]
        return []  # the pool is spent: MetalLB leaves the Service pending

    def _ingress_entry(self, ingress: JsonObject) -> JsonObject:
        if not self.eks:
            return {"ip": ingress_controller_address(self.cluster)}
        meta = ingress["metadata"]
        digest = _digest(self.cluster, meta["namespace"], meta["name"])
        number = int(digest[10:18], 16) % 10**10
        prefix = f"k8s-{meta['namespace'][:8]}-{meta['name'][:8]}"
        return {"hostname": f"{prefix}-{digest[:10]}-{number}.{self.region}.elb.amazonaws.com"}
