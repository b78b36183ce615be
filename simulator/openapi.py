"""A minimal OpenAPI v3 description, enough for kubectl's create/apply validation.

kubectl (1.27+) reads `/openapi/v3` to learn whether the server validates fields itself: it looks
for the PATCH operation tagged with the kind's `x-kubernetes-group-version-kind` and checks that
it takes the `fieldValidation` query parameter. When it does, kubectl sends
`?fieldValidation=Strict` and skips client-side schema validation, so no schemas are needed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from simulator.resources import ResourceRegistry, ResourceType

_QUERY_PARAMETERS = ("fieldValidation", "fieldManager", "dryRun", "force")


def _group_version_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _operation(resource: ResourceType, verb: str) -> dict[str, Any]:
    return {
        "operationId": f"{verb}{resource.kind}",
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in _QUERY_PARAMETERS
        ],
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {
            "group": resource.group,
            "version": resource.version,
            "kind": resource.kind,
        },
    }


def group_version_document(registry: ResourceRegistry, group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    prefix = "/" + _group_version_path(group, version)
    for resource in registry.in_group_version(group, version):
        scope = f"{prefix}/namespaces/{{namespace}}" if resource.namespaced else prefix
        if "create" in resource.verbs:
            paths[f"{scope}/{resource.plural}"] = {"post": _operation(resource, "post")}
        if "patch" in resource.verbs:
            paths[f"{scope}/{resource.plural}/{{name}}"] = {"patch": _operation(resource, "patch")}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (nodeless simulator)", "version": "v1.31.4"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def root_document(registry: ResourceRegistry) -> dict[str, Any]:
    paths = {}
    for group, version in (("", "v1"), *registry.group_versions()):
        if registry.has_group_version(group, version):
            document = json.dumps(group_version_document(registry, group, version), sort_keys=True)
            digest = hashlib.sha512(document.encode()).hexdigest()[:32].upper()
            path = _group_version_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def document_for(registry: ResourceRegistry, path: str) -> dict[str, Any] | None:
    """The document served at `/openapi/v3<path>`; None when there is none."""
    if path in ("", "/"):
        return root_document(registry)
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "api":
        group, version = "", parts[1]
    elif len(parts) == 3 and parts[0] == "apis":
        group, version = parts[1], parts[2]
    else:
        return None
    if not registry.has_group_version(group, version):
        return None
    return group_version_document(registry, group, version)
