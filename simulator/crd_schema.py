"""A custom resource against its version's structural schema, as apiextensions-apiserver does it:

- **pruning** (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
  custom-resource-definitions/#field-pruning): fields the schema does not specify are dropped on
  create and update, unless the schema says ``x-kubernetes-preserve-unknown-fields: true`` there;
  ``apiVersion``, ``kind`` and ``metadata`` at the root are never pruned;
- **validation** (same page, "Validation"): ``type`` (``integer`` also for whole numbers, ``number``
  for any, ``x-kubernetes-int-or-string``), ``nullable``, ``required``, ``enum``, ``minimum`` /
  ``maximum``, ``maxLength``, ``minItems`` / ``maxItems``; each failure a cause of one 422 Invalid,
  worded as the API server words them (``spec.replicas: Invalid value: "string": spec.replicas in
  body must be of type integer: "string"``).
"""

from __future__ import annotations

import json
from typing import Any

Json = dict[str, Any]
Cause = tuple[str, str]
_ROOT = frozenset({"apiVersion", "kind", "metadata"})
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def prune(value: Any, schema: Json, *, root: bool = False) -> Any:
    """``value`` without the fields ``schema`` does not specify."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        if schema.get("x-kubernetes-preserve-unknown-fields") and properties is None and additional is None:
            return value
        pruned: Json = {}
        for key, item in value.items():
            if root and key in _ROOT:
                pruned[key] = item
            elif properties is not None and key in properties:
                pruned[key] = prune(item, properties[key])
            elif isinstance(additional, dict):
                pruned[key] = prune(item, additional)
            elif schema.get("x-kubernetes-preserve-unknown-fields") or additional is True:
                pruned[key] = item
        return pruned
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(item, schema["items"]) for item in value]
    return value


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _type_ok(value: Any, schema: Json) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    expected = schema.get("type")
    if not expected:
        return True
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(str(expected), (object,)))


def _bounds(value: Any, schema: Json, path: str) -> list[Cause]:
    causes: list[Cause] = []
    shown = _shown(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.append(
                (
                    path,
                    f"Invalid value: {shown}: {path} in body should be greater than or equal to {schema['minimum']}",
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            causes.append(
                (
                    path,
                    f"Invalid value: {shown}: {path} in body should be less than or equal to {schema['maximum']}",
                )
            )
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        causes.append((path, f"Too long: may not be more than {schema['maxLength']} bytes"))
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(
                (
                    path,
                    f"Invalid value: {len(value)}: {path} in body should have at least {schema['minItems']} items",
                )
            )
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append((path, f"Too many: {len(value)}: must have at most {schema['maxItems']} items"))
    return causes


def validate(value: Any, schema: Json, path: str = "") -> list[Cause]:
    """The causes of a 422 for ``value`` (already pruned) against ``schema``; none when valid."""
    if value is None:
        return (
            []
            if schema.get("nullable") or not path
            else [
                (
                    path,
                    f'Invalid value: "null": {path} in body must be of type {schema.get("type", "object")}: "null"',
                )
            ]
        )
    if not _type_ok(value, schema):
        expected = "integer-or-string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        found = _JSON_TYPES.get(type(value), type(value).__name__)
        return [
            (
                path,
                f"Invalid value: {_shown(found)}: {path} in body must be of type {expected}: {_shown(found)}",
            )
        ]
    causes: list[Cause] = []
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_shown(v) for v in schema["enum"])
        causes.append((path, f"Unsupported value: {_shown(value)}: supported values: {supported}"))
    causes += _bounds(value, schema, path)
    if isinstance(value, dict):
        for name in schema.get("required") or []:
            if name not in value:
                causes.append((f"{path}.{name}" if path else name, "Required value"))
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            child = properties.get(key, additional if isinstance(additional, dict) else None)
            if child is not None and not (not path and key in _ROOT):
                causes += validate(item, child, f"{path}.{key}" if path else key)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            causes += validate(item, schema["items"], f"{path}[{index}]")
    return causes
