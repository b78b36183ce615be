"""Which addresses a cluster's API server may have: the network policy for customer endpoints.

Sign-up is open, so anyone can hand us a kubeconfig whose server is wherever they like: our own
host (loopback), the instance metadata service (169.254.169.254, fd00:ec2::254), or an internal
name. Every address the server's host resolves to must be in a network the settings allow
(`NODELESS_CLUSTER_NETWORKS`), or we do not connect at all. Some addresses are never a Kubernetes
API a customer could mean (unspecified, multicast, reserved) and are refused whatever the setting.

The check resolves the name itself, just before a client is made; a name whose answer changes
between this check and the connection (DNS rebinding) is not covered here — see the README's
`NODELESS_CLUSTER_NETWORKS` row for the egress firewall rule that is.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from urllib.parse import urlsplit

from clusters.kube.failures import no_api_server_answered

# Resolved addresses are kept this long: a pass checks its client's endpoint every time.
_RESOLVED_SECONDS = 60.0
_resolved: dict[str, tuple[float, tuple[str, ...]]] = {}
_resolved_lock = threading.Lock()

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class EndpointNotAllowed(Exception):
    """The server's address is in a network Nodeless does not connect to."""


def network_of(address: IpAddress) -> str:
    """The policy's name for the network `address` is in ('never' for what is no endpoint)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return network_of(address.ipv4_mapped)
    if address.is_loopback:  # before `is_reserved`, which ::1's block also is
        return "loopback"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "never"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fd00:ec2::/32"):
        return "link-local"  # the IPv6 instance metadata service sits in ULA space
    if address.is_private or address in _CGNAT:
        return "private"
    return "public"


def _addresses(host: str, server: str) -> tuple[str, ...]:
    now = time.monotonic()
    with _resolved_lock:
        known = _resolved.get(host)
        if known is not None and now - known[0] < _RESOLVED_SECONDS:
            return known[1]
    try:
        found = tuple(
            sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})
        )
    except (socket.gaierror, UnicodeError) as error:
        # Worded like every other way of not reaching a server: which names resolve is not ours to tell.
        raise EndpointNotAllowed(no_api_server_answered(server)) from error
    with _resolved_lock:
        _resolved[host] = (now, found)
    return found


def check_endpoint(server: str, allowed: frozenset[str]) -> None:
    """Raise EndpointNotAllowed unless every address of `server`'s host is in an allowed network."""
    host = urlsplit(server).hostname or ""
    if not host:
        raise EndpointNotAllowed(f"{server} names no host")
    for text in _addresses(host, server):
        address = ipaddress.ip_address(text.split("%", 1)[0])
        network = network_of(address)
        if network == "never":
            raise EndpointNotAllowed(f"{server} is not at an address an API server can have")
        if network not in allowed:
            raise EndpointNotAllowed(
                f"{server} is at a {network} address; Nodeless connects to cluster API servers in "
                f"{', '.join(sorted(allowed))} networks only (NODELESS_CLUSTER_NETWORKS)"
            )
