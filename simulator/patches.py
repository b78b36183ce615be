"""PATCH bodies: JSON merge patch, strategic merge patch, JSON patch and server-side apply.

All functions are pure: they return a new document and never modify their inputs.

Strategic merge patch follows k8s.io/apimachinery/pkg/util/strategicpatch for the fields the
product and kubectl touch: lists of objects with a merge key (containers by `name`, conditions
by `type`, ...) are merged item by item, primitive `finalizers` lists are merged as sets, other
lists are replaced; `null` deletes a key; the directives `$patch` (replace/delete),
`$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>` (which
`kubectl apply` sends) are honoured.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from simulator.errors import ApiError, bad_request

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_CONTENT_TYPES = (MERGE_PATCH, STRATEGIC_MERGE_PATCH, JSON_PATCH, APPLY_PATCH)

# Field name -> merge key, from the `patchMergeKey` tags of the Kubernetes API types we serve.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "podIPs": "ip",
    "resourceClaims": "name",
}
# Lists of primitives with `patchStrategy: merge` (set semantics).
MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})


def _ports_merge_key(items: list[Any]) -> str:
    # Container ports merge on containerPort, Service ports on port: the same field name.
    return "containerPort" if any(isinstance(i, dict) and "containerPort" in i for i in items) else "port"


def merge_key_for(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return _ports_merge_key(items)
    return MERGE_KEYS.get(field)


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    retain_keys = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            remove = set(value or ())
            result[field] = [v for v in result.get(field) or () if v not in remove]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain_keys, list):
        keep = set(retain_keys)
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _merge_list(field: str, current: Any, patch_items: list[Any]) -> list[Any]:
    current_items = list(current) if isinstance(current, list) else []
    if field in MERGED_PRIMITIVE_LISTS:
        merged = list(current_items)
        merged.extend(v for v in patch_items if v not in merged)
        return merged
    key = merge_key_for(field, patch_items + current_items)
    if key is None or not all(isinstance(i, dict) for i in patch_items):
        return [copy.deepcopy(i) for i in patch_items if not (isinstance(i, dict) and i.get("$patch"))]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch_items):
        return [copy.deepcopy(i) for i in patch_items if not i.get("$patch")]
    result = list(current_items)
    for item in patch_items:
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        positions = [
            n
            for n, existing in enumerate(result)
            if isinstance(existing, dict) and existing.get(key) == item[key]
        ]
        if item.get("$patch") == "delete":
            result = [e for n, e in enumerate(result) if n not in positions]
        elif positions:
            result[positions[0]] = strategic_merge_patch(result[positions[0]], item)
        else:
            result.append(strategic_merge_patch({}, item))
    return result


def json_patch(document: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    result = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid json patch operation: {operation}")
        op, path = operation["op"], operation["path"]
        if op == "add":
            result = _pointer_set(result, path, copy.deepcopy(operation.get("value")), insert=True)
        elif op == "remove":
            result, _ = _pointer_remove(result, path)
        elif op == "replace":
            _pointer_get(result, path)  # the target must exist
            result = _pointer_set(result, path, copy.deepcopy(operation.get("value")), insert=False)
        elif op in ("move", "copy"):
            source = operation.get("from", "")
            if op == "move":
                result, value = _pointer_remove(result, source)
            else:
                value = copy.deepcopy(_pointer_get(result, source))
            result = _pointer_set(result, path, value, insert=True)
        elif op == "test":
            if _pointer_get(result, path) != operation.get("value"):
                raise ApiError(422, "Invalid", f"the test operation failed at {path}")
        else:
            raise bad_request(f"unknown json patch operation {op!r}")
    return result


def _pointer_tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid json pointer {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _walk(document: Any, tokens: list[str], path: str) -> Any:
    current = document
    for token in tokens:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            raise ApiError(422, "Invalid", f"json patch: path {path} does not exist")
    return current


def _pointer_get(document: Any, path: str) -> Any:
    return _walk(document, _pointer_tokens(path), path)


def _pointer_set(document: Any, path: str, value: Any, *, insert: bool) -> Any:
    tokens = _pointer_tokens(path)
    if not tokens:
        return value
    parent = _walk(document, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            if insert:
                parent.insert(int(last), value)
            elif int(last) < len(parent):
                parent[int(last)] = value
            else:
                raise ApiError(422, "Invalid", f"json patch: index out of range at {path}")
        else:
            raise ApiError(422, "Invalid", f"json patch: invalid index at {path}")
    else:
        raise ApiError(422, "Invalid", f"json patch: cannot set {path}")
    return document


def _pointer_remove(document: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer_tokens(path)
    if not tokens:
        raise bad_request("json patch: cannot remove the whole document")
    parent = _walk(document, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return document, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return document, parent.pop(int(last))
    raise ApiError(422, "Invalid", f"json patch: path {path} does not exist")


# --- server-side apply -------------------------------------------------------------------------
# Field paths use the segments of `managedFields[].fieldsV1`: `f:<field>` for a field and
# `k:{"name":"app"}` for the item of a keyed list, so the set of fields a manager applied is
# stored in the object exactly where kube-apiserver stores it.

FieldPath = tuple[str, ...]


def applied_field_paths(document: Any, prefix: FieldPath = ()) -> set[FieldPath]:
    """Paths of every field set in an applied configuration. Lists are owned as a whole, except
    keyed lists, whose items are owned by key."""
    paths: set[FieldPath] = set()
    if isinstance(document, dict) and document:
        for key, value in document.items():
            paths |= applied_field_paths(value, (*prefix, f"f:{key}"))
        return paths
    if isinstance(document, list) and document and prefix:
        key = merge_key_for(prefix[-1][2:], document)
        if key is not None and all(isinstance(i, dict) and key in i for i in document):
            for item in document:
                segment = "k:" + json.dumps({key: item[key]}, separators=(",", ":"))
                paths |= applied_field_paths(item, (*prefix, segment))
            return paths
    paths.add(prefix)
    return paths


def paths_to_fields_v1(paths: set[FieldPath]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for segment in path:
            node = node.setdefault(segment, {})
    return tree


def fields_v1_to_paths(tree: Mapping[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    paths: set[FieldPath] = set()
    for segment, child in tree.items():
        if segment == ".":
            continue
        if isinstance(child, Mapping) and child:
            paths |= fields_v1_to_paths(child, (*prefix, segment))
        else:
            paths.add((*prefix, segment))
    return paths


def _remove_path(document: Any, path: FieldPath) -> None:
    if not path:
        return
    head, rest = path[0], path[1:]
    if isinstance(document, list) and head.startswith("k:"):
        wanted = json.loads(head[2:])
        for n, item in enumerate(document):
            if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                if rest:
                    _remove_path(item, rest)
                else:
                    document.pop(n)
                return
        return
    if not isinstance(document, dict) or not head.startswith("f:") or head[2:] not in document:
        return
    field = head[2:]
    if rest:
        _remove_path(document[field], rest)
        child = document[field]
        if isinstance(child, (dict, list)) and not child:
            del document[field]
    else:
        del document[field]


def server_side_apply(
    live: Mapping[str, Any] | None, applied: Mapping[str, Any], previously_applied: set[FieldPath]
) -> dict[str, Any]:
    """Merge an applied configuration into the live object.

    Fields this manager applied before but left out now are removed; everything else is a
    strategic merge of the applied configuration. Conflicts with other managers are not
    detected (a documented simplification).
    """
    result: dict[str, Any] = copy.deepcopy(dict(live)) if live is not None else {}
    now_applied = applied_field_paths(applied)
    for path in sorted(previously_applied - now_applied, key=len, reverse=True):
        if path and path[0] not in ("f:apiVersion", "f:kind"):
            _remove_path(result, path)
    merged: dict[str, Any] = strategic_merge_patch(result, dict(applied))
    return merged
