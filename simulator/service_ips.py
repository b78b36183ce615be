"""Cluster IPs of a simulated cluster's Services, as kube-apiserver's allocator gives them: the one
a new Service asks for if it is of the cluster's service range and free (else 422 with
kube-apiserver's message: a client copying another cluster's address is refused, as on a real
cluster), or the next free one."""

from __future__ import annotations

import ipaddress
import itertools

from simulator.errors import invalid
from simulator.resources import SERVICES
from simulator.store import ObjectStore

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")


class ClusterIps:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._next = itertools.count(10)

    def allocate(self, name: str, requested: str) -> str:
        used = {
            str((stored.obj.get("spec") or {}).get("clusterIP")) for stored in self.store.list(SERVICES).items
        }
        if not requested:
            while (address := str(SERVICE_CIDR[next(self._next)])) in used:
                continue
            return address
        try:
            asked = ipaddress.ip_address(requested)
        except ValueError:
            message = f'Invalid value: "{requested}": must be a valid IP address'
            raise invalid("Service", name, "", [("spec.clusterIPs[0]", message)]) from None
        if asked not in SERVICE_CIDR:
            message = (
                f'Invalid value: "{requested}": failed to allocate IP {requested}: the provided IP '
                f"({requested}) is not in the valid range. The range of valid IPs is {SERVICE_CIDR}"
            )
            raise invalid("Service", name, "", [("spec.clusterIPs", message)])
        if requested in used:
            message = f'Invalid value: "{requested}": failed to allocate IP {requested}: provided IP is already allocated'
            raise invalid("Service", name, "", [("spec.clusterIPs", message)])
        return requested
