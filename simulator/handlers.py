"""Request handling for the simulated API server, independent of the HTTP plumbing.

`RequestHandler.handle()` turns a parsed request into a `Response` (a body to send) or a
`WatchStream` (events to stream with chunked encoding until `timeoutSeconds`); `Request`,
`Response` and `WatchStream` are in `simulator.messages`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import yaml

from simulator import discovery, metrics, openapi, pod_exec, tables
from simulator.api import ClusterApi
from simulator.api_support import DeleteOptions, PageResult, success_status
from simulator.auth import ClusterAuth, Identity, RequestAttributes
from simulator.errors import (
    ApiError,
    bad_request,
    forbidden,
    method_not_allowed,
    not_found,
    unauthorized,
)
from simulator.listing import ListOptions, watch_start
from simulator.messages import (
    BOOKMARK_INTERVAL_SECONDS,
    Request,
    Response,
    WatchStream,
    error_response,
    json_response,
)
from simulator.patches import PATCH_CONTENT_TYPES
from simulator.resources import (
    BINDINGS,
    NODE_METRICS,
    POD_METRICS,
    SELF_SUBJECT_ACCESS_REVIEWS,
    SELF_SUBJECT_REVIEWS,
    ResourceRegistry,
    ResourceType,
)
from simulator.routing import (
    PUBLIC_PATHS,
    DiscoveryRoute,
    NonResourceRoute,
    ResourceRoute,
    is_watch,
    parse_path,
    request_attributes,
)
from simulator.selectors import parse_field_selector, parse_label_selector
from simulator.store_table import encode_json

logger = logging.getLogger(__name__)

DEFAULT_WATCH_TIMEOUT_SECONDS = 1800.0


class RequestHandler:
    """Everything one simulated cluster answers over HTTP."""

    def __init__(self, api: ClusterApi, auth: ClusterAuth, registry: ResourceRegistry) -> None:
        self.api = api
        self.auth = auth
        self.registry = registry
        self.bookmark_interval = BOOKMARK_INTERVAL_SECONDS  # real seconds; tests shorten it

    def handle(self, request: Request) -> Response | WatchStream | pod_exec.ExecSession:
        try:
            route = parse_path(request.path, self.registry)
            identity = self.auth.identify(request.headers.get("authorization"))
            if isinstance(route, NonResourceRoute) and route.path in PUBLIC_PATHS:
                return self._non_resource(route)
            if identity is None:
                return error_response(unauthorized())
            if isinstance(route, NonResourceRoute):
                return self._non_resource(route)
            if isinstance(route, DiscoveryRoute):
                return self._discovery(route)
            attributes = request_attributes(request.method, route, request.query)
            if not identity.may(attributes):
                return error_response(
                    forbidden(
                        identity.username,
                        attributes.verb,
                        attributes.qualified_resource,
                        attributes.api_group,
                        attributes.namespace,
                        attributes.name,
                    )
                )
            return self._resource(request, route, identity)
        except ApiError as error:
            return error_response(error)
        except Exception as error:  # a simulator bug must surface as a 500, not a dropped socket
            logger.exception("simulated API server failed on %s %s", request.method, request.path)
            return error_response(ApiError(500, "InternalError", f"simulator error: {error!r}"))

    # --- non-resource and discovery ---------------------------------------------------------

    def _non_resource(self, route: NonResourceRoute) -> Response:
        if route.path == "version":
            return json_response(200, discovery.VERSION_INFO)
        if route.path in ("healthz", "livez", "readyz"):
            return Response(200, b"ok", "text/plain")
        if route.path == "":
            paths = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v3", "/readyz", "/version"]
            return json_response(200, {"paths": paths})
        if route.path.startswith("openapi/v3"):
            document = openapi.document_for(self.registry, route.path[len("openapi/v3") :])
            if document is not None:
                return json_response(200, document)
        return error_response(ApiError(404, "NotFound", "the server could not find the requested resource"))

    def _discovery(self, route: DiscoveryRoute) -> Response:
        if route.legacy_root:
            return json_response(200, discovery.api_versions())
        if route.group is None:
            return json_response(200, discovery.api_group_list(self.registry))
        if route.version is None:
            versions = [v for g, v in self.registry.group_versions() if g == route.group]
            if not versions:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return json_response(200, discovery.api_group(route.group, versions))
        return json_response(200, discovery.api_resource_list(self.registry, route.group, route.version))

    # --- resources ---------------------------------------------------------------------------

    def _resource(
        self, request: Request, route: ResourceRoute, identity: Identity
    ) -> Response | WatchStream | pod_exec.ExecSession:
        method = request.method
        resource = route.resource
        if route.subresource == "exec":
            if method not in ("GET", "POST"):
                raise method_not_allowed()
            return pod_exec.open_exec(self.api, route.namespace or "", route.name, request)
        if resource in (SELF_SUBJECT_ACCESS_REVIEWS, SELF_SUBJECT_REVIEWS):
            if method != "POST":
                raise method_not_allowed()
            return self._review(resource, request, identity)
        if resource in (POD_METRICS, NODE_METRICS):
            if method != "GET" or is_watch(request.query, route):
                raise method_not_allowed()
            answer = metrics.serve(
                self.api.store,
                resource,
                route.namespace,
                route.name,
                parse_label_selector(request.query.get("labelSelector")),
                self.api.clock.now(),
            )
            return json_response(200, answer)
        if resource is BINDINGS:
            if method != "POST" or route.namespace is None:
                raise method_not_allowed()
            body = _json_body(request)
            return self._bind(route.namespace, str((body.get("metadata") or {}).get("name", "")), body)
        namespace = route.namespace or ""
        if method == "GET":
            if route.name:
                return self._get(request, route)
            if is_watch(request.query, route):
                return self._watch(request, route)
            return self._list(request, route)
        if method == "POST":
            if route.subresource == "binding":
                return self._bind(namespace, route.name, _json_body(request))
            if route.subresource == "eviction":
                eviction = _json_body(request, optional=True)
                self.api.evict(
                    namespace, route.name, DeleteOptions.from_body(eviction.get("deleteOptions"), {})
                )
                return json_response(201, success_status(201))
            if route.name:
                raise method_not_allowed()
            created = self.api.create(resource, namespace, _json_body(request), dry_run=_dry_run(request))
            return Response(201, created.json)
        if method == "PUT":
            if route.subresource == "scale":
                return json_response(
                    200, self.api.patch_scale(resource, namespace, route.name, _json_body(request))
                )
            updated = self.api.replace(
                resource,
                namespace,
                route.name,
                _json_body(request),
                subresource=route.subresource or None,
                dry_run=_dry_run(request),
                field_manager=_field_manager(request),
            )
            return Response(200, updated.json)
        if method == "PATCH":
            return self._patch(request, route)
        if method == "DELETE":
            options = DeleteOptions.from_body(_json_body(request, optional=True), request.query)
            if route.name:
                deleted = self.api.delete(resource, namespace, route.name, options)
                return Response(200, deleted.json)
            self.api.delete_collection(
                resource,
                route.namespace,
                parse_label_selector(request.query.get("labelSelector")),
                self._field_selector(resource, request.query.get("fieldSelector")),
                options,
            )
            return json_response(200, success_status())
        raise method_not_allowed()

    def _get(self, request: Request, route: ResourceRoute) -> Response:
        namespace = route.namespace or ""
        if route.subresource == "scale":
            return json_response(200, self.api.get_scale(route.resource, namespace, route.name))
        stored = self.api.get(route.resource, namespace, route.name)
        if route.subresource == "log":
            return Response(200, _simulated_log(stored.obj, request.query.get("container")), "text/plain")
        if tables.wants_table(request.headers.get("accept")):
            table = tables.table(route.resource, [stored.obj], self.api.clock.now(), str(stored.rv))
            return json_response(200, table)
        return Response(200, stored.json)

    def _field_selector(self, resource: ResourceType, text: str | None) -> Any:
        selector = parse_field_selector(text)
        for path in selector.paths:
            if not resource.supports_field(path):
                raise bad_request(f"field label not supported: {path}")
        return selector

    def _list(self, request: Request, route: ResourceRoute) -> Response:
        query = request.query
        page: PageResult = self.api.list_page(
            route.resource,
            route.namespace,
            parse_label_selector(query.get("labelSelector")),
            self._field_selector(route.resource, query.get("fieldSelector")),
            options=ListOptions.from_query(query, watch=False),
        )
        if tables.wants_table(request.headers.get("accept")):
            table = tables.table(
                route.resource, [s.obj for s in page.items], self.api.clock.now(), str(page.resource_version)
            )
            if page.continue_token:
                table["metadata"]["continue"] = page.continue_token
            return json_response(200, table)
        metadata: dict[str, Any] = {"resourceVersion": str(page.resource_version)}
        if page.continue_token:
            metadata["continue"] = page.continue_token
            metadata["remainingItemCount"] = page.remaining
        head = (
            b'{"kind":"'
            + route.resource.list_kind.encode()
            + b'","apiVersion":"'
            + route.resource.api_version.encode()
            + b'","metadata":'
            + encode_json(metadata)
            + b',"items":['
        )
        return Response(200, head + b",".join(s.json for s in page.items) + b"]}")

    def _watch(self, request: Request, route: ResourceRoute) -> WatchStream:
        query = request.query
        options = ListOptions.from_query(query, watch=True)
        try:
            timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT_SECONDS)
        except ValueError as error:
            raise bad_request(f"invalid timeoutSeconds: {error}") from error
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        stream = WatchStream(
            watcher=None,
            resource=route.resource,
            timeout_seconds=timeout,
            bookmarks=bookmarks,
            as_table=tables.wants_table(request.headers.get("accept")),
            initial_events_end_bookmark=bool(options.send_initial_events) and bookmarks,
            api=self.api,
            bookmark_interval=self.bookmark_interval,
        )
        try:
            stream.watcher = self.api.store.watch(
                route.resource,
                route.namespace,
                parse_label_selector(query.get("labelSelector")),
                self._field_selector(route.resource, query.get("fieldSelector")),
                watch_start(self.api.store, options),
            )
        except ApiError as error:
            if error.code != 410:
                raise
            # The watch cache answers a too old version with an ERROR event in a 200 stream,
            # not an HTTP 410 (apiserver cacher: newErrWatcher); clients list again.
            stream.error = error
        return stream

    def _patch(self, request: Request, route: ResourceRoute) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in PATCH_CONTENT_TYPES:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types include: {', '.join(PATCH_CONTENT_TYPES)}",
            )
        namespace = route.namespace or ""
        if route.subresource == "scale":
            scale = self.api.patch_scale(
                route.resource, namespace, route.name, None, (request.body, content_type)
            )
            return json_response(200, scale)
        # Only a server-side apply creates (201; 200 when it updates). Whether the object was there
        # is read under the same hold of the store lock as the patch: read before it, another
        # request creating or deleting the object in between made the answer the wrong one.
        with self.api.store.lock:
            existed = self.api.store.try_get(route.resource, namespace, route.name) is not None
            patched = self.api.patch(
                route.resource,
                namespace,
                route.name,
                request.body,
                content_type,
                subresource=route.subresource or None,
                field_manager=_field_manager(request),
                force=request.query.get("force", "").lower() in ("true", "1"),
                dry_run=_dry_run(request),
            )
        return Response(200 if existed else 201, patched.json)

    def _bind(self, namespace: str, pod_name: str, body: dict[str, Any]) -> Response:
        target = body.get("target") or {}
        if not pod_name or not target.get("name"):
            raise ApiError(422, "Invalid", "Binding is invalid: target.name: Required value")
        if target.get("kind", "Node") != "Node":
            raise ApiError(422, "Invalid", "Binding is invalid: target.kind: must be Node")
        uid = (body.get("metadata") or {}).get("uid")
        self.api.bind(namespace, pod_name, target["name"], expected_uid=uid)
        return json_response(201, success_status(201))

    def _review(self, resource: ResourceType, request: Request, identity: Identity) -> Response:
        body = _json_body(request)
        if resource is SELF_SUBJECT_REVIEWS:
            user_info: dict[str, Any] = {"username": identity.username, "groups": list(identity.groups)}
            if identity.uid:
                user_info["uid"] = identity.uid
            if identity.extra:
                user_info["extra"] = {k: list(v) for k, v in identity.extra.items()}
            return json_response(
                201,
                {
                    "kind": "SelfSubjectReview",
                    "apiVersion": "authentication.k8s.io/v1",
                    "metadata": {},
                    "status": {"userInfo": user_info},
                },
            )
        spec = body.get("spec") or {}
        attrs = spec.get("resourceAttributes")
        if attrs is not None:
            allowed = identity.may(
                RequestAttributes(
                    verb=attrs.get("verb", ""),
                    api_group=attrs.get("group", ""),
                    resource=attrs.get("resource", ""),
                    subresource=attrs.get("subresource", ""),
                    namespace=attrs.get("namespace", ""),
                    name=attrs.get("name", ""),
                )
            )
        else:
            allowed = True  # non-resource URLs (/version, /healthz, discovery) are open to any user
        # RBAC denials carry no reason, so `kubectl auth can-i` prints a bare "no".
        status: dict[str, Any] = {"allowed": allowed}
        review = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": status,
        }
        return json_response(201, review)


def _json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    if not request.body.strip():
        if optional:
            return {}
        raise bad_request("the request body is empty")
    try:
        body = json.loads(request.body)
    except ValueError as error:
        content_type = request.headers.get("content-type", "")
        if "yaml" in content_type:
            body = yaml.safe_load(request.body)
        else:
            raise bad_request(f"error decoding the request body: {error}") from error
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _field_manager(request: Request) -> str:
    """The request's fieldManager, else the User-Agent up to its first "/", as apiserver's
    prefixFromUserAgent defaults it (apply requires an explicit one)."""
    explicit = request.query.get("fieldManager", "")
    if explicit or request.headers.get("content-type", "").startswith("application/apply-patch"):
        return explicit
    return request.headers.get("user-agent", "").split("/")[0][:128]


def _dry_run(request: Request) -> bool:
    return request.query.get("dryRun") == "All"


def _simulated_log(pod: dict[str, Any], container: str | None) -> bytes:
    containers = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or ()]
    name = container or (containers[0] if containers else "")
    if container and container not in containers:
        raise not_found("containers", container)
    node = (pod.get("spec") or {}).get("nodeName") or "<unscheduled>"
    phase = (pod.get("status") or {}).get("phase", "")
    meta = pod["metadata"]
    return f"[nodeless simulator] container {name} of pod {meta['namespace']}/{meta['name']} on {node}: {phase}\n".encode()
