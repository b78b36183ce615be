"""Cluster IPs of the endpoint's Services, as kube-apiserver gives them: each Service but a headless
(``clusterIP: None``) or ExternalName one gets an address of the organization's service range
(kube-apiserver's default ``--service-cluster-ip-range``, 10.96.0.0/12) when it is created, unless it
asks for a free one of that range; an update that leaves the address out keeps it (as
kube-apiserver's ``patchAllocatedValues``), and one that changes it is refused (immutable).

The address means nothing on the members, which give their copies their own (it is never sent
there, ``policies.federation.manifests.cluster_addresses_removed``), but tools read it: Flux's
health check (kstatus) holds a LoadBalancer Service InProgress ("ClusterIP not set") until it is
set, and ``kubectl get services`` prints it.

Two Services created at the same moment may, rarely, be given the same address (each starts from
its own name's place in the range, and they are not serialized): nothing routes to it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from policies.kubeapi import errors
from policies.models import KubeObject
from tenants.models import Organization

Json = dict[str, Any]
SERVICE_RANGE = ipaddress.IPv4Network("10.96.0.0/12")
# The range's first address is the ``kubernetes`` Service's on a cluster: never given out.
_FIRST = int(SERVICE_RANGE.network_address) + 2
_SIZE = SERVICE_RANGE.num_addresses - 3  # without the network, broadcast and first addresses
HEADLESS = "None"


def _used(organization: Organization, namespace: str, name: str) -> set[str]:
    """The addresses the organization's other Services hold."""
    others = KubeObject.objects.filter(
        organization=organization, group="", kind="Service", deleted_at__isnull=True
    )
    others = others.exclude(namespace=namespace, name=name)
    return {str(ip) for ip in others.values_list("body__spec__clusterIP", flat=True) if ip}


def _free(organization: Organization, namespace: str, name: str) -> str:
    used = _used(organization, namespace, name)
    start = int(hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:8], 16) % _SIZE
    for step in range(_SIZE):
        address = str(ipaddress.IPv4Address(_FIRST + (start + step) % _SIZE))
        if address not in used:
            return address
    raise errors.invalid(
        "Service", "", name, [("spec.clusterIP", f"Internal error: no address of {SERVICE_RANGE} is free")]
    )


def _checked(organization: Organization, namespace: str, name: str, asked: str) -> str:
    """An address a new Service asks for: of the range and free."""
    try:
        address = ipaddress.IPv4Address(asked)
    except ValueError:
        raise errors.invalid(
            "Service", "", name, [("spec.clusterIP", f'Invalid value: "{asked}": must be a valid IP address')]
        ) from None
    if address not in SERVICE_RANGE:
        message = (
            f'Invalid value: "{asked}": failed to allocate IP {asked}: the provided IP ({asked}) is not in '
            f"the valid range. The range of valid IPs is {SERVICE_RANGE}"
        )
        raise errors.invalid("Service", "", name, [("spec.clusterIPs", message)])
    if asked in _used(organization, namespace, name):
        message = f'Invalid value: "{asked}": failed to allocate IP {asked}: provided IP is already allocated'
        raise errors.invalid("Service", "", name, [("spec.clusterIPs", message)])
    return asked


def with_cluster_ip(organization: Organization, namespace: str, obj: Json, old: Json | None) -> Json:
    """The Service ``obj`` of ``namespace`` (new, or over ``old`` as stored) with its cluster IP (a
    new object when it changes)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj
    name = str(obj["metadata"]["name"])
    if spec.get("type") == "ExternalName":
        return {**obj, "spec": {k: v for k, v in spec.items() if k not in ("clusterIP", "clusterIPs")}}
    held = str(((old or {}).get("spec") or {}).get("clusterIP") or "")
    asked = str(spec.get("clusterIP") or "")
    if held and asked and asked != held:
        raise errors.invalid(
            "Service", "", name, [("spec.clusterIP", f'Invalid value: "{asked}": field is immutable')]
        )
    if held:
        address = held
    elif asked == HEADLESS:
        address = HEADLESS
    else:
        address = (
            _checked(organization, namespace, name, asked) if asked else _free(organization, namespace, name)
        )
    # No ipFamilies: they would go to the members, and an IPv6 one refuses IPv4.
    return {**obj, "spec": {**spec, "clusterIP": address, "clusterIPs": [address]}}
