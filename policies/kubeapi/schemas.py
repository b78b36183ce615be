"""The built-in kinds' OpenAPI v3 schemas, with their fields' types and descriptions, so that
``kubectl explain deployment.spec.strategy`` answers as it does against a cluster.

They are read from the official Python client's models (``kubernetes.client.models``: one class per
Kubernetes type, generated from kube-apiserver's own OpenAPI document, with each field's JSON name,
type and description), not written out here. What the client does not carry stays open: a field
typed ``object`` (an int-or-string, raw JSON) is declared without a type, and a kind the client has
no model for keeps ``resources``' open schema.

They describe; they do not constrain. The endpoint checks what it federates itself, and the PATCH
operations declare no request body, so kubectl computes client-side apply patches from the
built-in kinds' own merge keys, as before, never from these schemas.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import kubernetes.client.models as client_models

Json = dict[str, Any]
_PRIMITIVES: dict[str, Json] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "float": {"type": "number"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
    "object": {},  # an int-or-string, or raw JSON: the client does not say which
}
_LIST = re.compile(r"^List\[(.+)\]$")
_MAP = re.compile(r"^Dict\[str, (.+)\]$")
# A client class is named after its API group's prefix (when two groups share a type name), its
# version and its type: CoreV1ResourceClaim, V1DeploymentStrategy, V2MetricSpec.
_CLASS = re.compile(r"^([A-Z][a-z]+)?(V[0-9]+(?:alpha[0-9]+|beta[0-9]+)?)([A-Z].*)$")


def _name(spelled: str) -> str:
    """The schema's name: kubectl explain shows its last part as the field's type, as for a
    cluster's (``io.k8s.api.apps.v1.DeploymentStrategy``)."""
    parts = _CLASS.match(spelled)
    if parts is None:
        return f"io.k8s.client.{spelled}"
    group, version, name = parts.groups()
    return ".".join(["io.k8s.client", *([group.lower()] if group else []), version.lower(), name])


def _model(group: str, version: str, kind: str) -> type | None:
    """The client's class for a kind: ``V1Deployment``, ``V2HorizontalPodAutoscaler``; a core
    Event is ``CoreV1Event`` (events.k8s.io has one too)."""
    names = [f"{version[:1].upper()}{version[1:]}{kind}"]
    if kind == "Event" and not group:
        names.insert(0, f"Core{names[0]}")
    for name in names:
        found = getattr(client_models, name, None)
        if isinstance(found, type) and isinstance(getattr(found, "openapi_types", None), dict):
            return found
    return None


def _description(model: type) -> str:
    """The first paragraph of the class's docstring: the type's description."""
    return (model.__doc__ or "").strip().split("\n\n")[0].strip()


def _type(spelled: str, wanted: set[str]) -> Json:
    """The schema of a type as the client spells it; the classes it names are added to ``wanted``."""
    if spelled in _PRIMITIVES:
        return dict(_PRIMITIVES[spelled])
    if (listed := _LIST.match(spelled)) is not None:
        return {"type": "array", "items": _type(listed.group(1), wanted)}
    if (mapped := _MAP.match(spelled)) is not None:
        return {"type": "object", "additionalProperties": _type(mapped.group(1), wanted)}
    if isinstance(getattr(client_models, spelled, None), type):
        wanted.add(spelled)
        return {"allOf": [{"$ref": f"#/components/schemas/{_name(spelled)}"}]}
    return {}


def _object(model: type, wanted: set[str]) -> Json:
    fields = getattr(model, "model_fields", {})
    properties: Json = {}
    for attribute, spelled in model.openapi_types.items():  # type: ignore[attr-defined]
        schema = _type(spelled, wanted)
        field = fields.get(attribute)
        if field is not None and field.description:
            schema["description"] = field.description
        properties[model.attribute_map[attribute]] = schema  # type: ignore[attr-defined]
    return {"type": "object", "description": _description(model), "properties": properties}


@functools.cache
def kind_schemas(group: str, version: str, kind: str) -> tuple[Json, dict[str, Json]] | None:
    """The kind's schema and every schema it refers to (by name), or None for a kind the client has
    no model for."""
    model = _model(group, version, kind)
    if model is None:
        return None
    wanted: set[str] = set()
    root = _object(model, wanted)
    referenced: dict[str, Json] = {}
    done: set[str] = set()
    while pending := wanted - done:
        for spelled in sorted(pending):
            referenced[_name(spelled)] = _object(getattr(client_models, spelled), wanted)
            done.add(spelled)
    return root, referenced
