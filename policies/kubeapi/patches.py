"""The three patch formats kubectl and the client libraries send (besides server-side apply).

- JSON merge patch (RFC 7386): maps merge, ``null`` deletes, anything else replaces.
- Strategic merge patch: as a merge patch, but lists of the built-in kinds that Kubernetes merges
  by a key (containers by name, ports by port, ...) are merged element by element, and the
  directives ``$patch`` (``delete``/``replace``), ``$setElementOrder/<list>``, ``$retainKeys`` and
  ``$deleteFromPrimitiveList/<list>`` are honoured. Other lists are replaced, as for kinds with no
  merge strategy.
- JSON patch (RFC 6902): add, remove, replace, move, copy and test.

Each raises ``PatchError`` with a message kubectl can print.
"""

from __future__ import annotations

import copy
from typing import Any

Json = dict[str, Any]

# The list fields Kubernetes merges by a key (the ``patchMergeKey`` of the built-in types).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "env": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "tolerations": "key",
    "conditions": "type",
    "ports": "port",  # a container's ports merge by containerPort: see _merge_key
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
}


class PatchError(ValueError):
    pass


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    key = MERGE_KEYS.get(field)
    if field == "ports" and any(isinstance(i, dict) and "containerPort" in i for i in items):
        return "containerPort"
    return key


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [item for item in result[field] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        else:
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, current: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(field, current + patch)
    if key is None or not all(isinstance(item, dict) and key in item for item in patch):
        return [copy.deepcopy(item) for item in patch]
    merged = [copy.deepcopy(item) for item in current]
    for item in patch:
        index = next(
            (i for i, old in enumerate(merged) if isinstance(old, dict) and old.get(key) == item.get(key)),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif item.get("$patch") == "replace":
            return [{k: v for k, v in i.items() if k != "$patch"} for i in patch]
        elif index is None:
            merged.append(strategic_merge_patch(None, item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


# --- JSON patch ------------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"{path!r} is not a JSON pointer (it must start with /)")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]] if path else []


def _parent(document: Any, parts: list[str], path: str) -> tuple[Any, str]:
    node = document
    for part in parts[:-1]:
        node = _child(node, part, path)
    return node, parts[-1]


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise PatchError(f"path {path!r} does not exist")


def _add(document: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _parent(document, parts, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"index {last!r} of {path!r} is out of range")
    else:
        raise PatchError(f"path {path!r} does not exist")
    return document


def _remove(document: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole object")
    parent, last = _parent(document, parts, path)
    value = _child(parent, last, path)
    if isinstance(parent, dict):
        del parent[last]
    else:
        parent.pop(int(last))
    return document, value


def json_patch(document: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    result = copy.deepcopy(document)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError("each JSON patch operation needs op and path")
        op, path = operation["op"], operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"the {op} operation at {path!r} needs a value")
        if op == "add":
            result = _add(result, path, copy.deepcopy(operation["value"]))
        elif op == "remove":
            result, _ = _remove(result, path)
        elif op == "replace":
            result, _ = _remove(result, path)
            result = _add(result, path, copy.deepcopy(operation["value"]))
        elif op in ("move", "copy"):
            source = str(operation.get("from", ""))
            if op == "move":
                result, value = _remove(result, source)
            else:
                value = copy.deepcopy(_resolve(result, source))
            result = _add(result, path, value)
        elif op == "test":
            if _resolve(result, path) != operation["value"]:
                raise PatchError(f"test failed: {path!r} does not hold the given value")
        else:
            raise PatchError(f"unknown JSON patch operation {op!r}")
    return result


def _resolve(document: Any, path: Any) -> Any:
    node = document
    for part in _pointer(path):
        node = _child(node, part, str(path))
    return node
