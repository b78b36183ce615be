"""Map a request path and method to what it addresses, and to its RBAC attributes.

Resource paths have the shapes kube-apiserver serves:
`/api/v1/<plural>[/<name>[/<sub>]]`, `/api/v1/namespaces/<ns>/<plural>[/<name>[/<sub>]]`, the same
under `/apis/<group>/<version>`, and the legacy `/watch/` prefix after the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from simulator.auth import RequestAttributes
from simulator.errors import ApiError, not_found
from simulator.resources import NAMESPACES, ResourceRegistry, ResourceType

NON_RESOURCE_PATHS = frozenset({"", "version", "healthz", "livez", "readyz", "openapi/v2", "openapi/v3"})
# Paths that answer without authentication, as system:public-info-viewer allows.
PUBLIC_PATHS = frozenset({"version", "healthz", "livez", "readyz"})


@dataclass(frozen=True)
class DiscoveryRoute:
    """`/api`, `/apis`, `/apis/<group>`, `/api/v1` or `/apis/<group>/<version>`."""

    group: str | None = None  # None for /api and /apis themselves
    version: str | None = None
    legacy_root: bool = False  # /api


@dataclass(frozen=True)
class NonResourceRoute:
    path: str


@dataclass(frozen=True)
class ResourceRoute:
    resource: ResourceType
    namespace: str | None  # None: cluster-scoped, or every namespace of a namespaced resource
    name: str = ""
    subresource: str = ""
    watch_path: bool = False


Route = DiscoveryRoute | NonResourceRoute | ResourceRoute


def parse_path(path: str, registry: ResourceRegistry) -> Route:
    segments = [unquote(s) for s in path.strip("/").split("/") if s != ""]
    joined = "/".join(segments)
    if joined in NON_RESOURCE_PATHS or (segments and segments[0] == "openapi"):
        return NonResourceRoute(joined)
    if segments == ["api"]:
        return DiscoveryRoute(legacy_root=True)
    if segments == ["apis"]:
        return DiscoveryRoute()
    if segments[:1] == ["api"] and len(segments) >= 2:
        group, version, rest = "", segments[1], segments[2:]
    elif segments[:1] == ["apis"] and len(segments) == 2:
        return DiscoveryRoute(group=segments[1])
    elif segments[:1] == ["apis"] and len(segments) >= 3:
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if not registry.has_group_version(group, version):
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if not rest:
        return DiscoveryRoute(group=group, version=version)
    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespaced = registry.find(group, version, rest[2])
        if namespaced is not None and namespaced.namespaced:
            if len(rest) > 5:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return ResourceRoute(
                namespaced,
                rest[1],
                rest[3] if len(rest) > 3 else "",
                rest[4] if len(rest) > 4 else "",
                watch_path,
            )
    resource = registry.find(group, version, rest[0])
    if resource is None or len(rest) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource.namespaced and name:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if subresource and subresource not in resource.subresources:
        raise not_found(f"{resource.plural}/{subresource}", name, resource.group)
    return ResourceRoute(resource, None, name, subresource, watch_path)


def is_watch(query: dict[str, str], route: ResourceRoute) -> bool:
    return route.watch_path or query.get("watch", "").lower() in ("true", "1")


def request_attributes(method: str, route: ResourceRoute, query: dict[str, str]) -> RequestAttributes:
    """The RBAC verb and target of a resource request."""
    if route.subresource == "exec":
        # A WebSocket upgrade is a GET, but since 1.35 (AuthorizePodWebsocketUpgradeCreatePermission)
        # kube-apiserver asks for `create` on pods/exec for it as for SPDY's POST.
        verb = "create"
    elif method == "GET":
        verb = "get" if route.name else ("watch" if is_watch(query, route) else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if route.name else "deletecollection"
    else:
        verb = method.lower()
    namespace = route.namespace or ""
    if route.resource is NAMESPACES and route.name:
        namespace = route.name
    return RequestAttributes(
        verb=verb,
        api_group=route.resource.group,
        resource=route.resource.plural,
        subresource=route.subresource,
        namespace=namespace,
        name=route.name,
    )
