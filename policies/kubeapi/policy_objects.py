"""``FederationPolicy`` (policy.nodeless.io/v1alpha1): the organization's federation policies as
Kubernetes objects, like Karmada's ClusterPropagationPolicy. They are the same rows the policy
pages and ``/api/v1/federation-policies`` edit, checked by the same serializer and services, so a
policy applied with kubectl shows on the pages and the other way round.

``spec`` is the REST API's shape in camelCase: ``workloadSelector`` (namespaces, labels) says which
workloads it takes when none names a policy (annotation ``policy.nodeless.io/name``);
``clusterSelector``, ``strategy``, ``spread``, ``burst``, ``pinned``, ``egressWeight``,
``stickiness``, ``onFailure`` and ``gracePeriodSeconds`` say where they run. ``resourceVersion``
is the policy's version; a watch follows the rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from rest_framework.exceptions import ValidationError as ApiValidationError

from policies.api.serializers import FederationPolicySerializer, policy_representation
from policies.federation import selectors, services
from policies.kubeapi import errors, fields, operations, patches, store, tables
from policies.kubeapi.operations import PATCH_TYPES, Context, Written
from policies.kubeapi.resources import POLICY_GROUP
from policies.models import FederationPolicy, KubeObject
from tenants.races import StaleVersion

Json = dict[str, Any]
API_VERSION = f"{POLICY_GROUP}/v1alpha1"
_TOP = {
    "description": "description",
    "workload_selector": "workloadSelector",
    "cluster_selector": "clusterSelector",
    "strategy": "strategy",
    "spread": "spread",
    "burst": "burst",
    "pinned": "pinned",
    "egress_weight": "egressWeight",
    "stickiness": "stickiness",
    "on_failure": "onFailure",
    "grace_period_seconds": "gracePeriodSeconds",
}
_NESTED = {
    "static_weights": "staticWeights",
    "spread_by": "spreadBy",
    "min_groups": "minGroups",
    "max_groups": "maxGroups",
    "return_headroom": "returnHeadroom",
    "return_after_seconds": "returnAfterSeconds",
}
_SNAKE_TOP = {v: k for k, v in _TOP.items()}
_SNAKE_NESTED = {v: k for k, v in _NESTED.items()}


def _nested(value: Any, names: dict[str, str]) -> Any:
    if not isinstance(value, dict):
        return value
    return {names.get(k, k): v for k, v in value.items()}


def _shadows(organization: Any, name: str | None = None) -> dict[str, Json]:
    """Labels and annotations sent with each policy (GitOps tools track their objects by them),
    kept beside the policy rows, which have no place for them."""
    found = KubeObject.objects.filter(
        organization=organization, group=POLICY_GROUP, resource="federationpolicies"
    )
    if name is not None:
        found = found.filter(name=name)
    return {kobj.name: kobj.body.get("metadata") or {} for kobj in found}


def _keep_metadata(ctx: Context, obj: Json) -> None:
    metadata = obj.get("metadata") or {}
    kept = {key: metadata[key] for key in ("labels", "annotations") if isinstance(metadata.get(key), dict)}
    for values in kept.values():
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
            raise errors.invalid(
                "FederationPolicy",
                POLICY_GROUP,
                str(metadata.get("name")),
                [("metadata", "Invalid value: labels and annotations map strings to strings")],
            )
    KubeObject.objects.update_or_create(
        organization=ctx.organization,
        group=POLICY_GROUP,
        resource="federationpolicies",
        namespace="",
        name=str(metadata.get("name")),
        defaults={
            "version": "v1alpha1",
            "kind": "FederationPolicy",
            "body": {"metadata": kept},
            "labels": kept.get("labels", {}),
            "resource_version": 0,
        },
    )


def render(policy: FederationPolicy, names: dict[str, str], metadata: Json | None = None) -> Json:
    shape = policy_representation(policy, names)
    spec = {
        camel: _nested(shape[snake], _NESTED) for snake, camel in _TOP.items() if shape.get(snake) is not None
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "FederationPolicy",
        "metadata": {
            "name": policy.name,
            "uid": str(policy.pk),
            "resourceVersion": str(policy.version),
            "generation": policy.version,
            "creationTimestamp": store.timestamp(policy.created_at),
            **(metadata or {}),
        },
        "spec": spec,
        "status": {"summary": shape["summary"], "workloads": shape["workload_count"]},
    }


def _data(obj: Any) -> Json:
    if (
        not isinstance(obj, dict)
        or obj.get("kind") != "FederationPolicy"
        or obj.get("apiVersion") != API_VERSION
    ):
        raise errors.bad_request(f"send a FederationPolicy of apiVersion {API_VERSION}")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise errors.invalid(
            "FederationPolicy",
            POLICY_GROUP,
            str((obj.get("metadata") or {}).get("name")),
            [("spec", "Required value")],
        )
    data = {_SNAKE_TOP.get(k, k): _nested(v, _SNAKE_NESTED) for k, v in spec.items()}
    data["name"] = (obj.get("metadata") or {}).get("name")
    spread = data.get("spread")
    if isinstance(spread, dict) and isinstance(spread.get("static_weights"), list):
        spread["static_weights"] = [_nested(rule, _SNAKE_NESTED) for rule in spread["static_weights"]]
    return {str(k): v for k, v in data.items()}


def _validated(data: Json, name: str) -> Json:
    serializer = FederationPolicySerializer(data=data)
    if not serializer.is_valid():
        raise _invalid(name, serializer.errors)
    return dict(serializer.validated_data)


def _invalid(name: str, problems: Any, prefix: str = "spec") -> errors.KubeError:
    causes: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                camel = _TOP.get(key) or _NESTED.get(key) or key
                walk(inner, f"{path}.{camel}" if key not in ("non_field_errors", "__all__") else path)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, path)
        else:
            causes.append((path, str(value)))

    walk(problems, prefix)
    return errors.invalid("FederationPolicy", POLICY_GROUP, name, causes)


def _lookup(ctx: Context, name: str) -> FederationPolicy:
    policy = FederationPolicy.objects.filter(organization=ctx.organization, name=name).first()
    if policy is None:
        raise errors.not_found("federationpolicies", POLICY_GROUP, name)
    return policy


def _save(ctx: Context, data: Json, current: FederationPolicy | None, sent: Any) -> FederationPolicy:
    name = str(data.get("name") or "")
    validated = _validated(data, name)
    try:
        if current is None:
            return services.federation_policy_create(ctx.organization, actor=ctx.actor, data=validated)
        version = int(sent) if str(sent or "").isdigit() else None
        return services.federation_policy_update(
            ctx.organization, policy=current, actor=ctx.actor, data=validated, sent_version=version
        )
    except ValidationError as error:
        raise _invalid(name, error.message_dict if hasattr(error, "error_dict") else error.messages)
    except ApiValidationError as error:
        raise _invalid(name, error.detail)
    except StaleVersion:
        raise errors.conflict(
            "federationpolicies",
            POLICY_GROUP,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )


def handle(
    request: HttpRequest, ctx: Context, name: str | None, body: Callable[[HttpRequest], Any]
) -> HttpResponseBase:
    names = selectors.cluster_names(ctx.organization)
    method = request.method
    if name is None and method == "GET":
        if request.GET.get("watch") in ("1", "true"):
            return StreamingHttpResponse(_watch(ctx, names), content_type="application/json")
        shadows = _shadows(ctx.organization)
        items = [
            render(p, names, shadows.get(p.name)) for p in selectors.federation_policy_list(ctx.organization)
        ]
        if tables.wants_table(request.headers.get("Accept", "")):
            include = request.GET.get("includeObject")
            return JsonResponse(tables.table("FederationPolicy", items, include=include))
        return JsonResponse(
            {
                "kind": "FederationPolicyList",
                "apiVersion": API_VERSION,
                "metadata": {"resourceVersion": "0"},
                "items": items,
            }
        )
    if name is None and method == "POST":
        sent = body(request)
        data = _data(sent)
        if FederationPolicy.objects.filter(organization=ctx.organization, name=data["name"]).exists():
            raise errors.already_exists("federationpolicies", POLICY_GROUP, str(data["name"]))
        with transaction.atomic():
            policy = _save(ctx, data, None, None)
            _keep_metadata(ctx, sent)
        return JsonResponse(
            render(policy, names, _shadows(ctx.organization, policy.name).get(policy.name)), status=201
        )
    if name is None:
        raise errors.method_not_allowed(f"{method} is not supported on a collection")
    if method == "GET":
        return JsonResponse(render(_lookup(ctx, name), names, _shadows(ctx.organization, name).get(name)))
    if method == "DELETE":
        policy = _lookup(ctx, name)
        last = render(policy, names, _shadows(ctx.organization, name).get(name))
        try:
            with transaction.atomic():
                services.federation_policy_delete(ctx.organization, policy=policy, actor=ctx.actor)
                _shadows_delete(ctx, name)
        except services.PolicyInUse as error:
            raise errors.conflict("federationpolicies", POLICY_GROUP, name, str(error))
        return JsonResponse(last)
    written = _change(request, ctx, name, names, body)
    return JsonResponse(written.obj, status=201 if written.created else 200)


def _change(
    request: HttpRequest, ctx: Context, name: str, names: dict[str, str], body: Callable[[HttpRequest], Any]
) -> Written:
    """A PUT or PATCH of the named policy; only a server-side apply creates one that is not there."""
    current = FederationPolicy.objects.filter(organization=ctx.organization, name=name).first()
    live = render(current, names, _shadows(ctx.organization, name).get(name)) if current is not None else None
    sent = body(request)
    if request.method == "PUT":
        obj = sent
    elif request.method == "PATCH":
        kind = PATCH_TYPES.get(request.content_type or "")
        if kind == "apply":
            obj = fields.deep_merge({k: v for k, v in (live or {}).items() if k != "status"}, sent)
        elif live is None:
            raise errors.not_found("federationpolicies", POLICY_GROUP, name)
        elif kind == "json":
            obj = patches.json_patch(live, sent)
        elif kind in ("merge", "strategic"):
            obj = patches.merge_patch(live, sent)
        else:
            raise errors.unsupported_media_type(request.content_type or "")
    else:
        raise errors.method_not_allowed(f"{request.method} is not supported")
    if current is None and request.method == "PUT":
        raise errors.not_found("federationpolicies", POLICY_GROUP, name)
    data = _data(obj)
    if data["name"] != name:
        raise errors.bad_request(
            f"the name of the object ({data['name']}) does not match the name on the URL ({name})"
        )
    sent_version = (obj.get("metadata") or {}).get("resourceVersion") if request.method == "PUT" else None
    with transaction.atomic():
        policy = _save(ctx, data, current, sent_version)
        _keep_metadata(ctx, obj)
    return Written(render(policy, names, _shadows(ctx.organization, name).get(name)), created=current is None)


def _shadows_delete(ctx: Context, name: str) -> None:
    KubeObject.objects.filter(
        organization=ctx.organization, group=POLICY_GROUP, resource="federationpolicies", name=name
    ).delete()


def _watch(ctx: Context, names: dict[str, str]) -> Iterator[str]:
    """Changes of the policy rows, polled (they change rarely, and through the pages too)."""
    seen = {p.name: p.version for p in selectors.federation_policy_list(ctx.organization)}
    deadline = time.monotonic() + 300
    last_write = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(min(0.5, operations.KEEPALIVE_SECONDS))
        now = {p.name: p for p in selectors.federation_policy_list(ctx.organization)}
        for policy_name, policy in now.items():
            if seen.get(policy_name) != policy.version:
                kind = "MODIFIED" if policy_name in seen else "ADDED"
                last_write = time.monotonic()
                yield json.dumps({"type": kind, "object": render(policy, names)}) + "\n"
        for policy_name in set(seen) - set(now):
            gone = {"apiVersion": API_VERSION, "kind": "FederationPolicy", "metadata": {"name": policy_name}}
            last_write = time.monotonic()
            yield json.dumps({"type": "DELETED", "object": gone}) + "\n"
        seen = {n: p.version for n, p in now.items()}
        if time.monotonic() - last_write >= operations.KEEPALIVE_SECONDS:
            # as the objects' watch does (operations.KEEPALIVE_SECONDS): an abandoned watch ends
            last_write = time.monotonic()
            yield " "
