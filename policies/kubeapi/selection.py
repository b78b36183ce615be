"""Label and field selectors, as list and watch requests send them (``app=web,tier in (a,b),!old``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from policies.kubeapi.errors import bad_request

Matcher = Callable[[Mapping[str, str]], bool]
_SET = re.compile(r"^([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)$")
_EQUAL = re.compile(r"^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)$")
_FIELD = re.compile(r"^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([^,]*)$")
_EXISTS = re.compile(r"^(!?)([A-Za-z0-9_./-]+)$")


def _split(text: str) -> list[str]:
    """Requirements split on the commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _requirement(text: str) -> Matcher:
    if found := _SET.match(text):
        key, operator, values = found.group(1), found.group(2), {v.strip() for v in found.group(3).split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if found := _EQUAL.match(text):
        key, operator, value = found.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if found := _EXISTS.match(text):
        negated, key = found.groups()
        return (lambda labels: key not in labels) if negated else (lambda labels: key in labels)
    raise bad_request(f"unable to parse requirement: {text!r}")


def label_matcher(text: str | None) -> Matcher:
    requirements = [_requirement(part) for part in _split(text or "")]
    return lambda labels: all(requirement(labels) for requirement in requirements)


# The fields every kind can be selected by, and those of events (kube-apiserver's
# ``pkg/registry/core/event/strategy.go`` ToSelectableFields): ``kubectl describe`` lists an object's
# events with ``involvedObject.name=…,involvedObject.namespace=…,involvedObject.uid=…``.
_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_EVENT_FIELDS = (
    *_COMMON_FIELDS,
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)


# Those of pods (``pkg/registry/core/pod/strategy.go`` ToSelectableFields, the ones with a value
# when unset too): ``kubectl get pods --field-selector status.phase=Running``.
_POD_FIELDS = (
    *_COMMON_FIELDS,
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)


def field_filters(text: str | None, kind: str = "") -> dict[str, tuple[str, str]]:
    """The field selector: field → (operator, value), of the fields ``kind`` can be selected by."""
    known = {"Event": _EVENT_FIELDS, "Pod": _POD_FIELDS}.get(kind, _COMMON_FIELDS)
    filters: dict[str, tuple[str, str]] = {}
    for part in _split(text or ""):
        found = _FIELD.match(part)
        if not found or found.group(1) not in known:
            names = ", ".join(f'"{field}"' for field in known)
            raise bad_request(f'"{part}" is not a known field selector: only {names}')
        filters[found.group(1)] = (found.group(2), found.group(3))
    return filters


def _field(obj: Mapping[str, Any], field: str) -> str:
    if field == "source":  # the event's source component
        return str((obj.get("source") or {}).get("component") or "")
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


def fields_match(filters: Mapping[str, tuple[str, str]], obj: Mapping[str, Any]) -> bool:
    """Whether the served object ``obj`` has the selected fields."""
    for field, (operator, value) in filters.items():
        equal = _field(obj, field) == value
        if equal == (operator == "!="):
            return False
    return True
