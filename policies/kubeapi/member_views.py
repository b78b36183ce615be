"""The members' objects on the endpoint (``member_objects``): ``/api/v1/…/pods`` — list, watch (by
listing again), get, delete and log, never written here; ``/api/v1/nodes``; and their metrics
(``/apis/metrics.k8s.io/v1beta1/…``), for ``kubectl top``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse

from nodeless_saas.documents import DocumentError, load_json
from policies.kubeapi import (
    decision_events,
    errors,
    member_events,
    member_objects,
    member_streams,
    operations,
    store,
    tables,
)
from policies.kubeapi.selection import field_filters, label_matcher
from policies.kubeapi.shares import WATCHES
from tenants.models import ApiToken

Json = dict[str, Any]
R = TypeVar("R", bound=HttpResponseBase)
MADE_BY_MEMBERS = (
    "the pods of federated workloads are made by their member clusters: create a Deployment, StatefulSet, "
    "DaemonSet, Job or CronJob and Nodeless places it"
)


# What needs a connection held open to the member's kubelet: exec is relayed (``member_streams``),
# the rest answered with where the pod runs.
STREAMED = {
    **member_streams.RELAYED,
    "attach": "kubectl attach",
    "portforward": "kubectl port-forward",
    "proxy": "the pod proxy",
    "ephemeralcontainers": "kubectl debug",
}


def streamed(
    request: HttpRequest, token: ApiToken, namespace: str, name: str, subresource: str
) -> HttpResponseBase:
    """exec relayed to the pod's member; attach, port-forward, proxy and debug: where the pod runs,
    to do it there."""
    if subresource in member_streams.RELAYED:
        return member_streams.relay(request, token, namespace, name, subresource)
    cluster = member_objects.get(token.organization, namespace, name).cluster.name
    raise errors.KubeError(
        400,
        "BadRequest",
        f"{STREAMED[subresource]} is not relayed to member clusters: pod {name} runs in {cluster}; "
        f"use {cluster}'s own kubeconfig for it",
    )


def _respond(body: Json, warnings: list[str]) -> JsonResponse:
    response = JsonResponse(body, json_dumps_params={"separators": (",", ":")})
    return warned(response, warnings)


def warned(response: R, warnings: list[str]) -> R:
    """kubectl prints each warning (RFC 7234 ``299`` warnings, one quoted text each)."""
    if warnings:
        texts = (" ".join(text.replace('"', "'").replace("\\", "/").split()) for text in warnings)
        response["Warning"] = ", ".join(f'299 - "{text}"' for text in texts)
    return response


def handle(
    request: HttpRequest, ctx: operations.Context, name: str | None, subresource: str
) -> HttpResponseBase:
    method = request.method
    if method not in ("GET", "HEAD", "DELETE"):
        raise errors.method_not_allowed(MADE_BY_MEMBERS)
    organization, namespace, kind = ctx.organization, ctx.namespace, ctx.resource.kind
    as_table = tables.wants_table(request.headers.get("Accept", ""))
    if request.GET.get("watch") in ("1", "true"):
        if kind != "Pod":
            raise errors.method_not_allowed(
                f"{ctx.resource.plural} are read from the member clusters, not watched"
            )
        if name is not None or method != "GET":
            raise errors.method_not_allowed("watch pods through their collection (a fieldSelector names one)")
        return _watch(request, ctx, as_table)
    if name is None:
        if method == "DELETE":
            raise errors.method_not_allowed("delete pods one by one (kubectl delete pod NAME)")
        labels = label_matcher(request.GET.get("labelSelector"))
        filters = field_filters(request.GET.get("fieldSelector"), kind)
        items, answers = member_objects.listing(organization, namespace, labels, filters, kind)
        warnings = answers.warnings()
        version = str(store.current_version(organization))
        if as_table:
            include = request.GET.get("includeObject")
            return _respond(tables.table(kind, items, version=version, include=include), warnings)
        metadata = {"resourceVersion": version}
        listed = {"kind": f"{kind}List", "apiVersion": ctx.resource.group_version, "metadata": metadata}
        return _respond({**listed, "items": items}, warnings)
    if subresource == "log":
        if method == "DELETE":
            raise errors.method_not_allowed("a pod's log is only read")
        follow = request.GET.get("follow") in ("true", "1")
        if follow and WATCHES.full(organization.pk):
            raise WATCHES.refused()
        found, chunks = member_objects.log(organization, namespace, name, request.GET)
        body = WATCHES.held(organization.pk, chunks) if follow else chunks
        return warned(StreamingHttpResponse(body, content_type="text/plain"), found.warnings)
    if method == "DELETE":
        if ctx.dry_run:
            found = member_objects.get(organization, namespace, name)
        else:
            grace = _grace_period(request)
            found = member_objects.delete(organization, namespace, name, grace_period_seconds=grace)
        return _respond(found.pod, found.warnings)
    found = member_objects.get(organization, namespace, name, kind)
    if as_table:
        version = str(found.pod["metadata"].get("resourceVersion", ""))
        return _respond(tables.table(kind, [found.pod], version=version), found.warnings)
    return _respond(found.pod, found.warnings)


def _grace_period(request: HttpRequest) -> int | None:
    """The grace period a delete asks for: the query's, else its DeleteOptions body's."""
    asked: Any = request.GET.get("gracePeriodSeconds")
    if asked is None and request.body:
        try:
            body = request.body.decode("utf-8", "replace")
            options = load_json(body, what="The DeleteOptions", max_bytes=64 * 1024)
        except DocumentError as error:
            raise errors.bad_request(f"the request body could not be decoded: {error}")
        asked = options.get("gracePeriodSeconds") if isinstance(options, dict) else None
    if asked is None:
        return None
    try:
        return int(asked)
    except (TypeError, ValueError):
        raise errors.bad_request("gracePeriodSeconds must be a whole number of seconds")


def _watch(request: HttpRequest, ctx: operations.Context, as_table: bool) -> HttpResponseBase:
    """``kubectl get pods -w``, ``kubectl wait``: the members' pods listed again every few seconds,
    what changed sent as watch events (``member_objects.changes``). Asked from a resourceVersion (the
    list kubectl printed a moment ago), the pods as they are when the watch starts are taken as what
    the client has; without one, they come first as ADDED."""
    try:
        seconds = min(
            int(request.GET.get("timeoutSeconds") or operations.MAX_WATCH_SECONDS),
            operations.MAX_WATCH_SECONDS,
        )
    except ValueError:
        raise errors.bad_request("timeoutSeconds must be a whole number")
    if WATCHES.full(ctx.organization.pk):
        raise WATCHES.refused()
    labels = label_matcher(request.GET.get("labelSelector"))
    filters = field_filters(request.GET.get("fieldSelector"), "Pod")
    events = member_objects.changes(
        ctx.organization,
        ctx.namespace,
        labels=labels,
        filters=filters,
        initial=request.GET.get("resourceVersion") in (None, "", "0"),
        seconds=seconds,
        keepalive=operations.KEEPALIVE_SECONDS,
    )

    def lines() -> Iterator[str]:
        for event in events:
            if event is None:
                yield " "  # a keep-alive: writing it finds a client that went away
                continue
            kind, pod = event
            version = str(pod["metadata"].get("resourceVersion", ""))
            shown = tables.table("Pod", [pod], version=version) if as_table else pod
            yield json.dumps({"type": kind, "object": shown}, separators=(",", ":")) + "\n"

    response = StreamingHttpResponse(
        WATCHES.held(ctx.organization.pk, lines()), content_type="application/json"
    )
    response["Cache-Control"] = "no-cache, private"
    return response


def events_read_through(
    ctx: operations.Context, filters: Mapping[str, tuple[str, str]]
) -> tuple[list[Json], list[str]]:
    """What a list of events adds to the endpoint's own, read when asked: the members' events of our
    pods (``kubectl describe pod``), the federation's decisions about workloads and the members'
    events of their copies of them (``kubectl describe deployment``); with a warning per member not
    read."""
    kind, organization, namespace = ctx.resource.kind, ctx.organization, ctx.namespace
    events: list[Json] = []
    warnings: list[str] = []
    if member_objects.asks_for_pod_events(kind, filters):
        events, warnings = member_objects.pod_events(organization, namespace, filters)
    if decision_events.asks_for(kind, filters):
        events += decision_events.listed(organization, namespace, filters)
    if member_events.asks_for(kind, filters):
        more, more_warnings = member_events.listed(organization, namespace, filters)
        events, warnings = events + more, warnings + more_warnings
    return events, warnings
