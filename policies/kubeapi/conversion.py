"""Objects served at another version than the one they are stored at, as kube-apiserver serves a
kind at each of its versions from one stored object.

- HorizontalPodAutoscalers are stored as autoscaling/v2 and served at autoscaling/v1 too
  (``kubectl autoscale`` of kubectl 1.32, Helm charts written for v1), converted both ways on every
  path (``engines.kube.autoscaling``): a body sent is converted before it is checked and written, a
  JSON, merge or strategic merge patch is applied to the object as v1 shows it, and every object
  answered (gets, lists, tables, watch events) is converted back. A request at v1 works on the
  stored resource (``Context.resource``) and says what it asked for in ``Context.asked``.
- A custom resource written at one of its CRD's versions is read at any other with that
  ``apiVersion``: what a CRD without a conversion webhook does (strategy ``None``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engines.kube import autoscaling
from policies.kubeapi import checks, errors
from policies.kubeapi.resources import Resource, by_kind

Json = dict[str, Any]


@dataclass(frozen=True)
class _Conversion:
    stored_version: str
    into_stored: Callable[[Json], Json]
    out_of_stored: Callable[[Json], Json]


_CONVERSIONS = {
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): _Conversion("v2", autoscaling.to_v2, autoscaling.to_v1),
}


def stored(resource: Resource) -> Resource | None:
    """The resource whose objects a request for ``resource`` reads and writes, when it is another
    version (None: the same)."""
    conversion = _CONVERSIONS.get((resource.group, resource.version, resource.kind))
    if conversion is None:
        return None
    found = by_kind(resource.group, resource.kind)
    assert found is not None and found.version == conversion.stored_version
    return found


def _conversion(asked: Resource) -> _Conversion:
    return _CONVERSIONS[(asked.group, asked.version, asked.kind)]


def into(asked: Resource | None, obj: Any) -> Any:
    """An object (or an apply configuration) sent for ``asked`` as it is stored: itself when
    nothing is converted; a 400 when it is of another version or cannot be converted."""
    if asked is None or not isinstance(obj, dict):
        return obj
    checks.check_type(asked, obj)
    try:
        return _conversion(asked).into_stored(obj)
    except autoscaling.ConversionError as error:
        raise errors.bad_request(f"{asked.kind} ({asked.group_version}): {error}") from error


def out(asked: Resource | None, resource: Resource, obj: Json) -> Json:
    """A stored object of ``resource`` as the request for ``asked`` (None: ``resource`` itself)
    reads it."""
    if asked is not None:
        return _conversion(asked).out_of_stored(obj)
    if obj.get("apiVersion") != resource.group_version:  # a custom resource written at another version
        return {**obj, "apiVersion": resource.group_version}
    return obj


def out_of_table(asked: Resource | None, resource: Resource, table: Json, items: list[Json]) -> Json:
    """A Table made from stored ``items`` (its cells read them), each row's object as ``out``
    gives it."""
    for row, obj in zip(table["rows"], items, strict=True):
        shown = row.get("object")
        if shown is obj:
            row["object"] = out(asked, resource, obj)
        elif isinstance(shown, dict) and asked is not None:  # its metadata: v1 adds annotations
            row["object"] = {**shown, "metadata": out(asked, resource, obj).get("metadata") or {}}
    return table
