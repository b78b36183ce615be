"""Cluster selectors in a readable text form, and in the structured JSON form the API also accepts.

Text: comma-separated requirements, all of which must hold (kubectl's label selector grammar,
plus integer comparisons)::

    env=prod, cloud in (aws, gcp), !spot, tier>2, region!=eu-west-1, gpu

``key=value`` (or ``==``), ``key!=value``, ``key in (a, b)``, ``key notin (a, b)``, ``key``
(the label exists), ``!key`` (it does not), ``key>n`` and ``key<n`` (integers). The empty text
selects every cluster. Structured: ``[{"key": "env", "operator": "In", "values": ["prod"]}, ...]``
with the operators In, NotIn, Exists, DoesNotExist, Gt, Lt (Kubernetes node-affinity names).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from engines.federation import ANY_CLUSTER, ClusterSelector, LabelExpression, Operator, PolicyError
from nodeless_saas.documents import describe

MAX_SELECTOR_CHARS = 2_000
_KEY = r"[A-Za-z0-9]([A-Za-z0-9_./-]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin|not\s+in)\s*\((?P<values>[^()]*)\)$", re.IGNORECASE)
_COMPARE = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|!=|=|>|<)\s*(?P<value>{_VALUE})$")
_EXISTS = re.compile(rf"^(?P<neg>!)?\s*(?P<key>{_KEY})$")
_VALUE_ONLY = re.compile(rf"^{_VALUE}$")
_OPERATORS = {"=": Operator.IN, "==": Operator.IN, "!=": Operator.NOT_IN, ">": Operator.GT, "<": Operator.LT}


class SelectorSyntaxError(ValueError):
    """Text that is not a selector; the message names the requirement and shows the fix."""


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for character in text:
        if character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
            if depth < 0:
                raise SelectorSyntaxError(f"unbalanced ')' in {text!r}")
        if character == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    if depth:
        raise SelectorSyntaxError(f"unbalanced '(' in {text!r}")
    parts.append("".join(current))
    return [part.strip() for part in parts]


def _expression(key: str, operator: Operator, values: tuple[str, ...], term: str) -> LabelExpression:
    try:
        return LabelExpression(key, operator, values)
    except PolicyError as error:
        raise SelectorSyntaxError(f"{term!r}: {error.message}") from None


def _requirement(term: str) -> LabelExpression:
    if match := _SET.match(term):
        values = tuple(value.strip() for value in match["values"].split(",") if value.strip())
        for value in values:
            if not _VALUE_ONLY.match(value):
                raise SelectorSyntaxError(f"{term!r}: {value!r} is not a valid label value")
        operator = Operator.IN if match["op"].lower() == "in" else Operator.NOT_IN
        return _expression(match["key"], operator, values, term)
    if match := _COMPARE.match(term):
        return _expression(match["key"], _OPERATORS[match["op"]], (match["value"],), term)
    if match := _EXISTS.match(term):
        operator = Operator.DOES_NOT_EXIST if match["neg"] else Operator.EXISTS
        return _expression(match["key"], operator, (), term)
    if re.match(rf"^{_KEY}\s+(in|notin)\s+[^(]", term, re.IGNORECASE):
        key, word = term.split()[:2]
        raise SelectorSyntaxError(f"{term!r}: put the values in parentheses, e.g. {key} {word} (a, b)")
    raise SelectorSyntaxError(
        f"{term!r} is not a requirement: write key=value, key!=value, key in (a, b), key notin (a, b), "
        "key, !key, key>n or key<n"
    )


def parse_selector_text(text: str) -> ClusterSelector:
    """``"env=prod, cloud in (aws, gcp)"`` → a ClusterSelector; raises SelectorSyntaxError."""
    if not text or not text.strip():
        return ANY_CLUSTER
    if len(text) > MAX_SELECTOR_CHARS:  # messages below quote the text: keep them short
        raise SelectorSyntaxError(f"a selector is at most {MAX_SELECTOR_CHARS} characters")
    terms = _split(text)
    if any(not term for term in terms):
        raise SelectorSyntaxError(f"empty requirement in {text!r}: remove the extra comma")
    return ClusterSelector(tuple(_requirement(term) for term in terms))


def parse_selector_expressions(items: Sequence[Any]) -> ClusterSelector:
    """The structured form ``[{"key", "operator", "values"}]``; raises SelectorSyntaxError."""
    expressions = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise SelectorSyntaxError(f"[{index}] must be an object with key, operator and values")
        try:
            operator = Operator(item.get("operator", ""))
        except ValueError:
            given = item.get("operator")
            shown = repr(given) if isinstance(given, str) and len(given) <= 60 else describe(given)
            raise SelectorSyntaxError(
                f"[{index}].operator {shown} must be one of {', '.join(Operator)}"
            ) from None
        values = item.get("values") or []
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            raise SelectorSyntaxError(f"[{index}].values must be a list of strings")
        expressions.append(_expression(str(item.get("key") or ""), operator, tuple(values), f"[{index}]"))
    return ClusterSelector(tuple(expressions))


def parse_selector(value: Any) -> ClusterSelector:
    """Text or structured form, whichever was given (None and "" select every cluster)."""
    if value is None or isinstance(value, str):
        return parse_selector_text(value or "")
    if isinstance(value, list | tuple):
        return parse_selector_expressions(value)
    raise SelectorSyntaxError(
        "give a selector as text (env=prod, cloud in (aws, gcp)) or a list of expressions"
    )


def selector_text(selector: ClusterSelector) -> str:
    """The readable form; parses back to an equal selector. Empty for the match-all selector."""
    return ", ".join(expression.describe() for expression in selector.expressions)


def selector_to_json(selector: ClusterSelector) -> list[dict[str, Any]]:
    return [
        {"key": expression.key, "operator": str(expression.operator), "values": list(expression.values)}
        for expression in selector.expressions
    ]
