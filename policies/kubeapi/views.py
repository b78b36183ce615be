"""The organization's Kubernetes API over HTTP, under ``/k8s/``: the API token in
``Authorization: Bearer`` says which organization, so one kubeconfig server address serves all.

Paths are the Kubernetes API's (``/api/v1/namespaces/shop/configmaps/web``,
``/apis/apps/v1/namespaces/shop/deployments/web/status``). Reads need the token's ``read`` scope,
writes ``write``. Every error is a ``Status`` object; a watch is a stream of JSON lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed

from policies.federation.manifests import COMPANION_KINDS, WORKLOAD_KINDS
from policies.kubeapi import (
    access_review,
    bodies,
    catalog,
    conversion,
    errors,
    member_views,
    operations,
    patches,
    policy_objects,
    replica_sets,
    resources,
    store,
    tables,
    watching,
)
from policies.kubeapi.resources import Resource
from policies.kubeapi.selection import field_filters, fields_match, label_matcher
from policies.kubeapi.shares import WATCHES
from tenants.actors import Actor
from tenants.authentication import ApiTokenAuthentication
from tenants.models import ApiToken
from tenants.races import race_message

Json = dict[str, Any]
# A waiting watch wakes this often with nothing new, to send its bookmarks and keep-alives in time.
WATCH_WAKE_SECONDS = 1.0
# The organizations watched in this process and their resourceVersions (one reader for all).
_versions = watching.Versions(store.version_of)
BOOKMARK_SECONDS = 10
# Served from the members when read (``member_objects``).
MEMBER_KINDS = ("Pod", "PodMetrics", "Node", "NodeMetrics")


def _respond(body: Json, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"separators": (",", ":")})


def _read(request: HttpRequest, ctx: operations.Context) -> Any:
    """The request's object as stored (``conversion``: sent at another version than stored)."""
    return conversion.into(ctx.asked, bodies.read(request))


def _out(ctx: operations.Context, obj: Json) -> Json:
    """A stored object as the request's version shows it."""
    return conversion.out(ctx.asked, ctx.resource, obj)


def _table(ctx: operations.Context, items: list[Json], version: str, include: str | None = None) -> Json:
    """The stored objects as a Table (its cells read them), each row's object as ``_out`` gives it."""
    table = tables.table(ctx.resource.kind, items, version=version, include=include)
    return conversion.out_of_table(ctx.asked, ctx.resource, table, items)


def _error(error: errors.KubeError) -> JsonResponse:
    response = _respond(error.status(), error.code)
    if error.code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="nodeless"'
    return response


def _token(request: HttpRequest, *, reading: bool) -> ApiToken:
    try:
        found = ApiTokenAuthentication().authenticate(request)  # type: ignore[arg-type]
    except AuthenticationFailed as failed:
        raise errors.unauthorized(str(failed.detail))
    if found is None:
        raise errors.unauthorized(
            "Unauthorized: send an organization's API token as 'Authorization: Bearer nls_…' "
            "(the kubeconfig from the workloads page has a place for it)"
        )
    token: ApiToken = found[1]
    scope = "read" if reading else "write"
    if not token.has_scope(scope):
        raise errors.forbidden(
            f"this API token lacks the '{scope}' scope; it may use {', '.join(getattr(token, 'granted', token.scopes))}"
        )
    return token


@csrf_exempt
def endpoint(request: HttpRequest, rest: str) -> HttpResponseBase:
    try:
        parts = [part for part in rest.split("/") if part]
        token = _token(request, reading=request.method in ("GET", "HEAD") or access_review.is_review(parts))
        return _route(request, token, parts)
    except errors.KubeError as error:
        return _error(error)
    except DatabaseError as error:
        # A write another request beat (its unique constraint, a deadlock PostgreSQL broke): a
        # Conflict the client may retry, as the API server answers a lost race.
        message = race_message(error)
        if message is None:
            raise
        return _error(errors.KubeError(409, "Conflict", message))


def _route(request: HttpRequest, token: ApiToken, parts: list[str]) -> HttpResponseBase:
    if request.method not in ("GET", "HEAD") and parts[:1] not in (["api"], ["apis"]):
        raise errors.method_not_allowed(f"{request.method} is not allowed here")
    prefix = request.path[: len(request.path) - len(request.path_info)] + "/k8s"
    if parts == ["openapi", "v2"]:
        return _openapi_v2(request)
    if parts[:2] == ["openapi", "v3"] and len(parts) > 2:
        return _openapi_v3(request, parts, prefix, catalog.served(token.organization))
    if access_review.is_review(parts):
        if request.method != "POST":
            raise errors.method_not_allowed(f"{parts[-1]} are only created: {request.method} is not allowed")
        if parts[-1] == access_review.WHOAMI:  # kubectl auth whoami: what it sends says nothing more
            return _respond(access_review.whoami(token), status=201)
        protobuf = request.content_type == access_review.PROTOBUF
        body = access_review.from_protobuf(parts[-1], request.body) if protobuf else bodies.read(request)
        scopes, served = getattr(token, "granted", token.scopes), catalog.served(token.organization)
        answer = access_review.review(parts[-1], body, scopes, served)
        return _respond(answer, status=201)
    static = _discovery(parts, prefix, lambda: catalog.served(token.organization))
    if static is not None:
        return _respond(static)
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise errors.not_found("", "", "/" + "/".join(parts))
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = catalog.find(token.organization, group, version, rest[0])
    if resource is None or (namespace and not resource.namespaced):
        raise catalog.not_served(token.organization, group, version, rest[0], "/" + "/".join(parts))
    if resource.read_only and request.method not in ("GET", "HEAD"):
        whose = "the member clusters' own" if resource.kind in MEMBER_KINDS else "written by Nodeless only"
        raise errors.method_not_allowed(f"{resource.plural} are {whose}: {request.method} is not allowed")
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else ""
    stored = conversion.stored(resource)
    if subresource and (subresource not in resource.subresources or len(rest) > 3):
        if name and subresource in member_views.STREAMED and resource.kind == "Pod" and not group:
            return member_views.streamed(request, token, namespace, name, subresource)
        raise errors.not_found(f"{resource.plural}/{subresource}", group, name or "")
    ctx = operations.Context(
        organization=token.organization,
        actor=Actor(token=token, ip_address=request.META.get("REMOTE_ADDR")),
        resource=stored or resource,
        asked=resource if stored else None,
        namespace=namespace,
        manager=operations.manager_name(
            request.GET.get("fieldManager"), request.headers.get("User-Agent", "")
        ),
        dry_run=request.GET.get("dryRun") == "All",
    )
    if resource.group == resources.POLICY_GROUP:
        return policy_objects.handle(request, ctx, name, bodies.read)
    if resource.derived and resource.kind in MEMBER_KINDS:
        return member_views.handle(request, ctx, name, subresource)
    if resource.derived:
        return _derived(request, ctx, name)
    if name is None:
        return _collection(request, ctx)
    return _member(request, ctx, name, subresource)


def _openapi_v2(request: HttpRequest) -> HttpResponseBase:
    """Protobuf for client-go's discovery client (Argo CD, kubectl), which asks for nothing else;
    JSON otherwise (``kubectl get --raw /openapi/v2``)."""
    document = resources.openapi_v2()
    if "proto-openapi.spec.v2" in request.headers.get("Accept", ""):
        encoded = resources.openapi_v2_protobuf(document)
        response: HttpResponseBase = HttpResponse(encoded, content_type=resources.OPENAPI_V2_PROTOBUF)
    else:
        response = _respond(document)
    response["Vary"] = "Accept"
    return response


def _openapi_v3(
    request: HttpRequest, parts: list[str], prefix: str, served: tuple[Resource, ...]
) -> HttpResponseBase:
    """One group version's OpenAPI v3 document, as kube-apiserver serves it: its hash is its ETag
    (If-None-Match: 304); asked for at its current hash, it may be kept for good (``public,
    immutable``); at an older one, a 301 to the current."""
    path = parts[2:]
    group, version = (path[1], path[2]) if path[:1] == ["apis"] and len(path) == 3 else ("", path[-1])
    found = resources.openapi_document_bytes(group, version, served) if len(path) in (2, 3) else None
    if found is None:
        raise errors.not_found("", "", "/" + "/".join(parts))
    body, digest = found
    asked = request.GET.get("hash")
    if asked and asked != digest:
        moved = HttpResponse(status=301)
        moved["Location"] = f"{prefix}/openapi/v3/{'/'.join(path)}?hash={digest}"
        return moved
    etag = f'"{digest}"'
    if etag in request.headers.get("If-None-Match", ""):
        response: HttpResponseBase = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Vary"] = "Accept"
    if asked:
        response["Cache-Control"] = "public, immutable"
        response["Expires"] = http_date(time.time() + 365 * 24 * 3600)
    return response


def _discovery(parts: list[str], prefix: str, served: Callable[[], tuple[Resource, ...]]) -> Json | None:
    """The discovery or OpenAPI document at ``parts`` (None: another path). ``served`` reads what
    the organization serves, custom resources included: only the documents that list it call it,
    not every object request that comes through here."""
    found: Json | None = None
    if parts == ["version"]:
        found = resources.SERVER_VERSION
    elif parts == ["api"]:
        found = resources.api_versions()
    elif parts == ["apis"]:
        found = resources.api_group_list(served())
    elif len(parts) == 2 and parts[0] == "api":
        found = resources.api_resource_list("", parts[1], served())
        if found is None:
            raise errors.not_found("", "", "/" + "/".join(parts))
    elif len(parts) == 2 and parts[0] == "apis":
        found = resources.api_group(parts[1], served())
        if found is None:
            raise errors.not_found("", "", "/" + "/".join(parts))
    elif len(parts) == 3 and parts[0] == "apis":
        found = resources.api_resource_list(parts[1], parts[2], served())
        if found is None:
            raise errors.not_found("", "", "/" + "/".join(parts))
    elif parts == ["openapi", "v3"]:
        found = resources.openapi_index(prefix, served())
    return found


def _collection(request: HttpRequest, ctx: operations.Context) -> HttpResponseBase:
    if request.method == "POST":
        created = operations.create(ctx, _read(request, ctx))
        return _warned(_respond(_out(ctx, created), 201), ctx)
    if request.method != "GET":
        raise errors.method_not_allowed(f"{request.method} is not supported on a collection")
    labels = label_matcher(request.GET.get("labelSelector"))
    filters = field_filters(request.GET.get("fieldSelector"), ctx.resource.kind)
    if request.GET.get("watch") in ("1", "true"):
        return _watch(request, ctx, labels, filters)
    items, version = operations.listing(ctx, labels=labels, field_filters=filters)
    more, warnings = member_views.events_read_through(ctx, filters)  # kubectl get events, describe
    items += [event for event in more if labels((event.get("metadata") or {}).get("labels") or {})]
    if tables.wants_table(request.headers.get("Accept", "")):
        response = _respond(_table(ctx, items, str(version), request.GET.get("includeObject")))
    else:
        listed = {"resourceVersion": str(version)}
        kind, api_version = f"{ctx.resource.kind}List", ctx.served.group_version
        shown = [_out(ctx, obj) for obj in items]
        response = _respond({"kind": kind, "apiVersion": api_version, "metadata": listed, "items": shown})
    return member_views.warned(response, warnings)


def _derived(request: HttpRequest, ctx: operations.Context, name: str | None) -> HttpResponseBase:
    """A Deployment's ReplicaSets (``replica_sets``): get and list, as discovery says."""
    if request.GET.get("watch") in ("1", "true"):
        raise errors.method_not_allowed(f"{ctx.resource.plural} are computed when read: list them again")
    if name is None:
        labels = label_matcher(request.GET.get("labelSelector"))
        filters = field_filters(request.GET.get("fieldSelector"), ctx.resource.kind)
        items, version = replica_sets.listing(ctx, labels=labels, field_filters=filters)
    else:
        items = [replica_sets.get(ctx, name)]
        version = int(items[0]["metadata"]["resourceVersion"])
    if tables.wants_table(request.headers.get("Accept", "")):
        include = request.GET.get("includeObject")
        return _respond(tables.table(ctx.resource.kind, items, version=str(version), include=include))
    if name is not None:
        return _respond(items[0])
    listed = {"resourceVersion": str(version)}
    return _respond({"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": listed, "items": items})


_FEDERATED = {*WORKLOAD_KINDS, *COMPANION_KINDS, "Namespace", "FederationPolicy"}


def _warned(response: HttpResponseBase, ctx: operations.Context) -> HttpResponseBase:
    """Kinds kept but not sent to members say so, as a Warning header kubectl prints."""
    if ctx.resource.kind not in _FEDERATED:
        response["Warning"] = (
            f'299 - "{ctx.resource.kind} is stored on this endpoint but not placed on member clusters: '
            "Nodeless federates Deployments, StatefulSets, DaemonSets, Jobs and CronJobs, with the objects "
            "they use (ConfigMaps, Secrets, Services, ServiceAccounts, PVCs, HPAs, Ingresses, Roles, RoleBindings), "
            'which go stand-alone to the clusters of the policy a policy.nodeless.io/name annotation names"'
        )
    return response


def _member(request: HttpRequest, ctx: operations.Context, name: str, subresource: str) -> HttpResponseBase:
    response = _member_verb(request, ctx, name, subresource)
    return _warned(response, ctx) if request.method in ("PUT", "PATCH") else response


def _member_verb(
    request: HttpRequest, ctx: operations.Context, name: str, subresource: str
) -> HttpResponseBase:
    method = request.method
    if subresource == "scale":
        return _scale(request, ctx, name)
    if method == "GET":
        obj = operations.get(ctx, name)
        if tables.wants_table(request.headers.get("Accept", "")) and not subresource:
            return _respond(_table(ctx, [obj], obj["metadata"]["resourceVersion"]))
        return _respond(_out(ctx, obj))
    if method == "PUT":
        replaced = operations.replace(ctx, name, _read(request, ctx), subresource=subresource)
        return _respond(_out(ctx, replaced))
    if method == "PATCH":
        kind = operations.PATCH_TYPES.get(request.content_type or "")
        if kind in (None, "unsupported"):
            raise errors.unsupported_media_type(request.content_type or "")
        if kind == "apply" and not request.GET.get("fieldManager"):
            raise errors.bad_request("PATCH of type application/apply-patch+yaml must have a fieldManager")
        force = request.GET.get("force") in ("true", "1")
        # An apply configuration is converted as an object is; any other patch applies to the
        # object as the client reads it (``operations.patch``).
        body = _read(request, ctx) if kind == "apply" else bodies.read(request)
        written = operations.patch(ctx, name, kind, body, force=force, subresource=subresource)
        return _respond(_out(ctx, written.obj), 201 if written.created else 200)
    if method == "DELETE":
        return _respond(_out(ctx, operations.delete(ctx, name)))
    raise errors.method_not_allowed(f"{method} is not supported")


# --- watch -----------------------------------------------------------------------------------------


def _watch(request: HttpRequest, ctx: operations.Context, labels: Any, filters: Any) -> HttpResponseBase:
    sent = request.GET.get("resourceVersion") or ""
    try:
        timeout = min(
            int(request.GET.get("timeoutSeconds") or operations.MAX_WATCH_SECONDS),
            operations.MAX_WATCH_SECONDS,
        )
        since = int(sent) if sent not in ("", "0") else None
    except ValueError:
        raise errors.bad_request("resourceVersion and timeoutSeconds must be whole numbers")
    as_table, bookmarks = (
        tables.wants_table(request.headers.get("Accept", "")),
        request.GET.get("allowWatchBookmarks"),
    )
    events = _stream(ctx, since, labels, filters, timeout, as_table, bookmarks == "true")
    response = StreamingHttpResponse(
        WATCHES.held(ctx.organization.pk, events), content_type="application/json"
    )
    response["Cache-Control"] = "no-cache, private"
    return response


def _line(kind: str, obj: Json, ctx: operations.Context, as_table: bool) -> str:
    shown = _table(ctx, [obj], obj["metadata"]["resourceVersion"]) if as_table else _out(ctx, obj)
    return json.dumps({"type": kind, "object": shown}, separators=(",", ":")) + "\n"


def _stream(
    ctx: operations.Context,
    since: int | None,
    labels: Any,
    filters: Any,
    timeout: int,
    as_table: bool,
    bookmarks: bool,
) -> Iterator[str]:
    """Events after ``since`` (or the current objects as ADDED, then what follows) until the timeout."""
    if since is None:
        items, since = operations.listing(ctx, labels=labels, field_filters=filters)
        for obj in items:
            yield _line("ADDED", obj, ctx, as_table)
    elif since < store.compacted_version(ctx.organization):
        gone = errors.gone(f"too old resource version: {since} ({store.current_version(ctx.organization)})")
        yield json.dumps({"type": "ERROR", "object": gone.status()}) + "\n"
        return
    deadline = time.monotonic() + timeout
    last_write = last_bookmark = time.monotonic()
    head, quiet = store.current_version(ctx.organization), False
    while True:
        # Every change up to ``head`` has committed (writes hold the counter until they commit), so
        # after reading them the watch is at ``head``, whatever kinds the changes were of.
        if head > since:
            events = store.events_after(ctx.organization, ctx.resource, ctx.namespace or None, since, head)
            for _version, kind, obj in events:
                metadata = obj.get("metadata") or {}
                if labels(metadata.get("labels") or {}) and fields_match(filters, obj):
                    last_write = time.monotonic()
                    yield _line(kind, obj, ctx, as_table)
            since = head
        if bookmarks and time.monotonic() - last_bookmark >= BOOKMARK_SECONDS:
            # Tells the client where it is (a restart resumes here).
            last_write = last_bookmark = time.monotonic()
            marker = {"kind": ctx.resource.kind, "apiVersion": ctx.served.group_version}
            yield (
                json.dumps(
                    {"type": "BOOKMARK", "object": marker | {"metadata": {"resourceVersion": str(since)}}}
                )
                + "\n"
            )
        elif time.monotonic() - last_write >= operations.KEEPALIVE_SECONDS:
            # One space: JSON decoders skip it (client-go's, the Python client's before the next
            # line), and writing it finds a client that went away, which ends this watch.
            last_write = time.monotonic()
            yield " "
        left = deadline - time.monotonic()
        if left <= 0:
            return
        head = _versions.wait_past(str(ctx.organization.pk), since, min(left, WATCH_WAKE_SECONDS))
        if head <= since and not quiet:
            watching.idle()  # nothing moved for a while: the session goes back until something does
        quiet = head <= since


# --- scale ----------------------------------------------------------------------------------------


def _scale_of(obj: Json) -> Json:
    metadata = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: metadata[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def _scale(request: HttpRequest, ctx: operations.Context, name: str) -> HttpResponseBase:
    """The Scale view of a Deployment: reading it, or setting spec.replicas through it."""
    if request.method == "GET":
        return _respond(_scale_of(operations.get(ctx, name)))
    if request.method not in ("PUT", "PATCH"):
        raise errors.method_not_allowed(f"{request.method} is not supported on scale")
    current = _scale_of(operations.get(ctx, name))
    sent = bodies.read(request)
    if request.method == "PATCH":
        kind = operations.PATCH_TYPES.get(request.content_type or "")
        if kind not in ("merge", "strategic", "json"):
            raise errors.unsupported_media_type(request.content_type or "")
        try:
            sent = patches.json_patch(current, sent) if kind == "json" else patches.merge_patch(current, sent)
        except patches.PatchError as error:
            raise errors.KubeError(422, "Invalid", f"the patch could not be applied: {error}")
    replicas = (sent.get("spec") or {}).get("replicas") if isinstance(sent, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(
            "Scale",
            "autoscaling",
            name,
            [("spec.replicas", "Invalid value: must be a whole number, 0 or more")],
        )
    change: Json = {"spec": {"replicas": replicas}}
    version = (sent.get("metadata") or {}).get("resourceVersion") if request.method == "PUT" else None
    if version:
        change["metadata"] = {"resourceVersion": version}
    updated = operations.patch(ctx, name, "merge", change, force=False)
    return _respond(_scale_of(updated.obj))
