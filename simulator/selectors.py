"""Label and field selectors: the query-string grammar and the `LabelSelector` object form.

String grammar (k8s.io/apimachinery/pkg/labels): comma-separated requirements, each one of
`key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`.
Field selectors accept only `=`, `==` and `!=` on dotted paths (`spec.nodeName=n1`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.errors import bad_request


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator == "=":
            return present and labels[self.key] == self.values[0]
        if self.operator == "!=":
            return not present or labels[self.key] != self.values[0]
        if self.operator == "in":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # notin


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def equality_value(self, key: str) -> str | None:
        """The value `key` must equal, if the selector pins it (used to pick an index)."""
        for r in self.requirements:
            if r.key == key and r.operator == "=":
                return r.values[0]
        return None


EVERYTHING = Selector()

_SET_RE = re.compile(r"^\s*(?P<key>[^\s!=,()]+)\s+(?P<op>in|notin)\s*\((?P<values>[^)]*)\)\s*$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def parse_label_selector(text: str | None) -> Selector:
    if not text:
        return EVERYTHING
    requirements: list[Requirement] = []
    for part in _split_top_level(text):
        set_match = _SET_RE.match(part)
        if set_match:
            values = tuple(v.strip() for v in set_match.group("values").split(",") if v.strip())
            requirements.append(Requirement(set_match.group("key"), set_match.group("op"), values))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            requirements.append(Requirement(key.strip(), "!=", (value.strip(),)))
        elif "==" in part or "=" in part:
            key, value = part.split("==", 1) if "==" in part else part.split("=", 1)
            requirements.append(Requirement(key.strip(), "=", (value.strip(),)))
        elif part.startswith("!"):
            requirements.append(Requirement(part[1:].strip(), "!"))
        elif re.fullmatch(r"[A-Za-z0-9_./-]+", part):
            requirements.append(Requirement(part, "exists"))
        else:
            raise bad_request(f'unable to parse requirement: "{part}"')
    return Selector(tuple(requirements))


def selector_from_object(selector: Mapping[str, Any] | None) -> Selector:
    """A `metav1.LabelSelector` (matchLabels + matchExpressions) as a `Selector`.

    A nil selector matches nothing in PDBs and workloads, so callers decide what None means; an
    empty object `{}` matches everything.
    """
    if not selector:
        return EVERYTHING
    requirements = [
        Requirement(k, "=", (str(v),)) for k, v in sorted((selector.get("matchLabels") or {}).items())
    ]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        operator = operators.get(expression.get("operator", ""))
        if operator is None:
            raise bad_request(f"invalid label selector operator {expression.get('operator')!r}")
        requirements.append(Requirement(expression["key"], operator, tuple(expression.get("values") or ())))
    return Selector(tuple(requirements))


def selector_to_string(selector: Mapping[str, Any] | None) -> str:
    """Format a LabelSelector the way `status.selector` of a scale subresource shows it."""
    parts = []
    for r in selector_from_object(selector).requirements:
        if r.operator == "=":
            parts.append(f"{r.key}={r.values[0]}")
        elif r.operator in ("in", "notin"):
            parts.append(f"{r.key} {r.operator} ({','.join(r.values)})")
        elif r.operator == "exists":
            parts.append(r.key)
        else:
            parts.append(f"!{r.key}")
    return ",".join(parts)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    value: str
    negated: bool

    def matches(self, obj: Mapping[str, Any]) -> bool:
        actual = field_value(obj, self.path)
        return (actual != self.value) if self.negated else (actual == self.value)


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def equality_value(self, path: str) -> str | None:
        for r in self.requirements:
            if r.path == path and not r.negated:
                return r.value
        return None

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(r.path for r in self.requirements)


NO_FIELDS = FieldSelector()


def parse_field_selector(text: str | None) -> FieldSelector:
    if not text:
        return NO_FIELDS
    requirements = []
    for part in _split_top_level(text):
        if "!=" in part:
            path, value = part.split("!=", 1)
            requirements.append(FieldRequirement(path.strip(), value.strip(), negated=True))
        elif "==" in part or "=" in part:
            path, value = part.split("==", 1) if "==" in part else part.split("=", 1)
            requirements.append(FieldRequirement(path.strip(), value.strip(), negated=False))
        else:
            raise bad_request(f'invalid field selector: "{part}"')
    return FieldSelector(tuple(requirements))


# Field labels whose value lives under another path (events' `source` is `source.component`).
_FIELD_ALIASES = {"source": "source.component"}


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string a field selector compares against: missing fields read as "" and booleans as
    "true"/"false", as kube-apiserver's field sets do."""
    current: Any = obj
    for segment in _FIELD_ALIASES.get(path, path).split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(segment)
    if current is None:
        return "false" if path == "spec.unschedulable" else ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)
