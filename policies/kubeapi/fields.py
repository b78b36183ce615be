"""Server-side apply: who owns which field (``metadata.managedFields``), and what an apply does.

A field is a path of map keys; lists are atomic (owned and replaced whole), which is what
Kubernetes does for every list without a merge key and a conservative reading of the others.
An apply by manager M of configuration C:

- conflicts when C sets a field to a value other than the live one and another manager owns it
  (``force`` takes it over instead: 409 Conflict otherwise, naming field and owner);
- merges C into the live object;
- removes the fields M applied last time and no longer applies, unless another manager owns them;
- leaves M owning exactly the fields of C; others keep only fields whose value C left unchanged.

An update (create, PUT, or a non-apply PATCH) by manager M makes M own every field it changed.
Ownership is stored in the FieldsV1 form kubectl shows (``f:spec: {f:replicas: {}}``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime
from typing import Any

Json = dict[str, Any]
Path = tuple[str, ...]
_NOT_OWNED = {"status", "apiVersion", "kind"}
_METADATA_NOT_OWNED = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
    "selfLink",
}
_MISSING = object()


class ApplyConflict(Exception):
    def __init__(self, conflicts: list[tuple[Path, str]]) -> None:
        super().__init__("apply conflicts")
        self.conflicts = conflicts


def leaf_paths(obj: Any, prefix: Path = ()) -> set[Path]:
    """The fields an object sets: paths to its scalars and lists (and empty maps)."""
    if not isinstance(obj, dict) or (not obj and prefix):
        return {prefix}
    paths: set[Path] = set()
    for key, value in obj.items():
        if not prefix and key in _NOT_OWNED:
            continue
        if prefix == ("metadata",) and key in _METADATA_NOT_OWNED:
            continue
        paths |= leaf_paths(value, (*prefix, key))
    return paths


def value_at(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def _remove(obj: Json, path: Path) -> None:
    node: Any = obj
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)
    # Maps left empty by the removal go too (apply removes what it no longer sets).
    for depth in range(len(path) - 1, 0, -1):
        parent = value_at(obj, path[: depth - 1]) if depth > 1 else obj
        child = value_at(obj, path[:depth])
        if isinstance(child, dict) and not child and isinstance(parent, dict):
            parent.pop(path[depth - 1], None)


def deep_merge(live: Any, config: Any) -> Any:
    if not isinstance(live, dict) or not isinstance(config, dict):
        return copy.deepcopy(config)
    merged = copy.deepcopy(live)
    for key, value in config.items():
        merged[key] = deep_merge(merged.get(key), value)
    return merged


# --- FieldsV1 ----------------------------------------------------------------------------------


def to_fields_v1(paths: Iterable[Path]) -> Json:
    tree: Json = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    if not isinstance(tree, dict):
        return set()
    children = {k: v for k, v in tree.items() if k.startswith("f:")}
    if not children:
        return {prefix} if prefix else set()
    paths: set[Path] = set()
    for key, value in children.items():
        paths |= from_fields_v1(value, (*prefix, key[2:]))
    return paths


def owners(managed: list[Json]) -> dict[tuple[str, str], set[Path]]:
    """(manager, operation) → the fields it owns."""
    found: dict[tuple[str, str], set[Path]] = {}
    for entry in managed or []:
        if isinstance(entry, dict):
            key = (str(entry.get("manager", "")), str(entry.get("operation", "Update")))
            found[key] = found.get(key, set()) | from_fields_v1(entry.get("fieldsV1"))
    return found


def render_managed(
    owned: dict[tuple[str, str], set[Path]], api_version: str, times: dict[tuple[str, str], str]
) -> list[Json]:
    return [
        {
            "manager": manager,
            "operation": operation,
            "apiVersion": api_version,
            "time": times.get((manager, operation), ""),
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(paths),
        }
        for (manager, operation), paths in owned.items()
        if paths
    ]


def _times(managed: list[Json]) -> dict[tuple[str, str], str]:
    return {
        (str(e.get("manager", "")), str(e.get("operation", "Update"))): str(e.get("time", ""))
        for e in managed or []
    }


def _without_managed(obj: Json) -> Json:
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": metadata}


def _covers(owned: set[Path], path: Path) -> bool:
    """True when an owned field is ``path``, inside it, or holds it (a list owned whole)."""
    return any(o[: len(path)] == path or path[: len(o)] == o for o in owned)


def record_update(
    old: Json | None, new: Json, *, manager: str, api_version: str, now: datetime
) -> list[Json]:
    """``new``'s managedFields after ``manager`` wrote it over ``old`` (None: created)."""
    managed = (old or {}).get("metadata", {}).get("managedFields") or []
    owned = owners(managed)
    before, after = leaf_paths(old or {}), leaf_paths(new)
    changed = {p for p in after if old is None or value_at(old, p) != value_at(new, p)}
    gone = before - after
    for key in owned:
        owned[key] = {p for p in owned[key] if p in after and not _covers(changed, p)} - gone
    mine = (manager, "Update")
    owned[mine] = owned.get(mine, set()) | changed
    times = _times(managed)
    if changed:
        times[mine] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return render_managed(owned, api_version, times)


def apply(
    live: Json | None, config: Json, *, manager: str, force: bool, api_version: str, now: datetime
) -> Json:
    """The object after ``manager`` applies ``config`` to ``live`` (None: it does not exist yet),
    with its managedFields; raises ApplyConflict when other managers own fields it would change."""
    managed = (live or {}).get("metadata", {}).get("managedFields") or []
    owned = owners(managed)
    mine = (manager, "Apply")
    applied = leaf_paths(config)
    base = live or {}
    conflicts: list[tuple[Path, str]] = []
    for path in sorted(applied):
        current = value_at(base, path)
        if current is _MISSING or current == value_at(config, path):
            continue
        for (other, operation), paths in owned.items():
            if (other, operation) != mine and _covers(paths, path):
                conflicts.append((path, other))
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    result = deep_merge(base, config)
    previously = owned.get(mine, set())
    for path in previously - applied:
        others = [p for key, p in owned.items() if key != mine]
        if not any(_covers(p, path) for p in others):
            _remove(result, path)
    for key in list(owned):
        if key != mine:
            owned[key] = {p for p in owned[key] if not _covers({c for c, _ in conflicts}, p)}
            owned[key] = {p for p in owned[key] if value_at(result, p) is not _MISSING}
    owned[mine] = applied
    times = _times(managed)
    if live is None or owned != owners(managed) or _without_managed(result) != _without_managed(live):
        # As the API server: an apply that changes neither the object nor who owns what keeps
        # the manager's time, and the object stays as it was (no new resourceVersion).
        times[mine] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    merged: Json = result
    merged.setdefault("metadata", {})["managedFields"] = render_managed(owned, api_version, times)
    return merged
