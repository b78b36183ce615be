"""Who the client is when a reverse proxy stands in front: one rule, applied in one place.

The direct peer (`REMOTE_ADDR`) is the only address nobody can forge. `X-Forwarded-For` and
`X-Forwarded-Proto` are whatever the sender wrote, so they are believed only when the peer is one of
`NODELESS_TRUSTED_PROXIES` (the TLS-terminating proxy in front of gunicorn; none by default):

- `ProxyHeadersMiddleware` (first in MIDDLEWARE) drops the `X-Forwarded-*` headers of every request
  whose peer is not a trusted proxy, so `SECURE_PROXY_SSL_HEADER` (is this request HTTPS?) and
  anything else reading them only ever see headers a trusted proxy set;
- `client_ip` is the client's address for the audit log, sign-in lockout and throttles: the peer,
  or, behind trusted proxies, the nearest address in `X-Forwarded-For` that is not one of them.

gunicorn is told to trust no one (`--forwarded-allow-ips ""`): Django alone decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")


@lru_cache(maxsize=8)
def _networks(configured: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in configured)


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def is_trusted_proxy(address: str | None) -> bool:
    parsed = _address(address) if address else None
    if parsed is None:
        return False
    return any(parsed in network for network in _networks(tuple(settings.NODELESS_TRUSTED_PROXIES)))


def client_ip(request: Any) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy (see the module)."""
    meta = getattr(request, "META", {})
    peer = meta.get("REMOTE_ADDR") or None
    if not is_trusted_proxy(peer):
        return str(peer) if peer else None
    address = str(peer)
    # Walk the chain from the nearest hop: each trusted proxy vouches for the address before it.
    for hop in reversed(str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")):
        parsed = _address(hop)
        if parsed is None:
            break  # garbage in the header: keep the last address a trusted proxy gave us
        address = str(parsed)
        if not is_trusted_proxy(address):
            break
    return address


class ProxyHeadersMiddleware:
    """Drops forwarding headers that did not come from a trusted proxy (see the module)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            for header in _FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)
