"""Reading a CloudFormation template as the service does: parse (JSON or YAML, long and short
intrinsic forms), validate what `CreateStack` validates before anything is created, and evaluate
intrinsic functions against parameters, pseudo parameters, conditions and created resources.

Written from the CloudFormation user guide ("Template anatomy", "Intrinsic function reference",
"Pseudo parameters reference"); the simulator imports nothing of the product, so the product's own
template is read here exactly like any customer's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from simulator.cloud.protocol import AwsError

STACK_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$")
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
_SHORT_FORMS = (
    "Ref",
    "Condition",
    "GetAtt",
    "Sub",
    "Join",
    "Select",
    "Split",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
)
# Properties that give an IAM resource a custom name: such a stack needs CAPABILITY_NAMED_IAM.
_IAM_NAME_PROPERTIES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
}


def validation_error(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (`!Ref X`, `!GetAtt A.B`, `!Sub ...`)."""


def _short_form(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    key = name if name in ("Ref", "Condition") else f"Fn::{name}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {key: value}

    return construct


for _name in _SHORT_FORMS:
    _Loader.add_constructor(f"!{_name}", _short_form(_name))


def parse_template(body: str) -> dict[str, Any]:
    """The template as a mapping; `ValidationError: Template format error` otherwise."""
    try:
        parsed = json.loads(body) if body.lstrip().startswith("{") else yaml.load(body, Loader=_Loader)
    except (ValueError, yaml.YAMLError) as error:
        raise validation_error(f"Template format error: {error}") from error
    if not isinstance(parsed, dict):
        raise validation_error("Template format error: JSON not well-formed.")
    resources = parsed.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise validation_error("Template format error: At least one Resources member must be defined.")
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise validation_error(
                f"Template format error: [/Resources/{logical_id}] Every Resources object must contain a Type member."
            )
    unknown = sorted(
        {r["Type"] for r in resources.values() if not str(r["Type"]).startswith(("AWS::", "Custom::"))}
    )
    if unknown:
        raise validation_error(f"Template format error: Unrecognized resource types: [{', '.join(unknown)}]")
    return parsed


def resolve_parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    """Parameter values: given, else the default; validated as CreateStack validates them."""
    declared: dict[str, Any] = template.get("Parameters") or {}
    extra = sorted(set(given) - set(declared))
    if extra:
        raise validation_error(f"Parameters: [{', '.join(extra)}] do not exist in the template")
    missing = sorted(k for k, spec in declared.items() if k not in given and "Default" not in (spec or {}))
    if missing:
        raise validation_error(f"Parameters: [{', '.join(missing)}] must have values")
    values: dict[str, Any] = {}
    for key, spec in declared.items():
        spec = spec or {}
        raw = str(given[key]) if key in given else str(spec.get("Default", ""))
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(str(pattern), raw):
            raise validation_error(f"Parameter '{key}' must match pattern {pattern}")
        allowed = spec.get("AllowedValues")
        if allowed and raw not in [str(v) for v in allowed]:
            raise validation_error(f"Parameter '{key}' must be one of AllowedValues")
        kind = str(spec.get("Type", "String"))
        values[key] = (
            [part.strip() for part in raw.split(",")]
            if kind.startswith("CommaDelimitedList") or kind.startswith("List<")
            else raw
        )
    return values


def required_capabilities(template: Mapping[str, Any]) -> list[str]:
    """CAPABILITY_NAMED_IAM when an IAM resource has a custom name, CAPABILITY_IAM for other IAM
    resources, nothing otherwise (the acknowledgement the console asks for)."""
    named = unnamed = False
    for resource in (template.get("Resources") or {}).values():
        kind = str(resource.get("Type", ""))
        if not kind.startswith("AWS::IAM::"):
            continue
        name_property = _IAM_NAME_PROPERTIES.get(kind)
        if name_property and name_property in (resource.get("Properties") or {}):
            named = True
        else:
            unnamed = True
    return ["CAPABILITY_NAMED_IAM"] if named else (["CAPABILITY_IAM"] if unnamed else [])


def dependencies(value: Any) -> set[str]:
    """Logical ids `value` refers to (Ref, GetAtt, and `${X}` / `${X.Attr}` inside Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner if isinstance(inner, list) else str(inner).split(".", 1)
                found.add(str(target[0]))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(m.split(".", 1)[0] for m in _SUB_VARIABLE.findall(str(text)))
                if isinstance(inner, list) and len(inner) > 1:
                    found.update(dependencies(inner[1]))
            else:
                found.update(dependencies(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(dependencies(inner))
    return found


@dataclass
class Context:
    """What intrinsic functions resolve against while a stack is created."""

    parameters: dict[str, Any]
    pseudo: dict[str, Any]
    conditions: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)  # logical id -> Ref value
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> attributes
    _condition_values: dict[str, bool] = field(default_factory=dict)

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self.conditions:
                raise validation_error(f"Template format error: Unresolved dependencies [{name}]")
            self._condition_values[name] = bool(self.evaluate(self.conditions[name]))
        return self._condition_values[name]

    def ref(self, name: str) -> Any:
        for source in (self.parameters, self.pseudo, self.refs):
            if name in source:
                return source[name]
        raise validation_error(
            f"Template format error: Unresolved resource dependencies [{name}] in the Resources block of the template"
        )

    def evaluate(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.evaluate(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, arg)
        return {k: self.evaluate(v) for k, v in value.items()}

    def get_att(self, logical_id: str, attribute: str) -> Any:
        attributes = self.attributes.get(logical_id)
        if attributes is None or attribute not in attributes:
            raise validation_error(
                f"Template error: resource {logical_id} does not support attribute type {attribute} in Fn::GetAtt"
            )
        return attributes[attribute]

    def substitute(self, text: str, variables: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.attributes:
                return str(self.get_att(*name.split(".", 1)))
            value = self.ref(name)
            return ",".join(value) if isinstance(value, list) else str(value)

        return _SUB_VARIABLE.sub(one, text).replace("${!", "${")


def _sub(context: Context, arg: Any) -> str:
    if isinstance(arg, list):
        text, variables = arg[0], {k: context.evaluate(v) for k, v in (arg[1] or {}).items()}
    else:
        text, variables = arg, {}
    return context.substitute(str(text), variables)


def _get_att(context: Context, arg: Any) -> Any:
    logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
    return context.get_att(str(logical_id), str(context.evaluate(attribute)))


def _if(context: Context, arg: Any) -> Any:
    name, when_true, when_false = arg
    return context.evaluate(when_true if context.condition(str(name)) else when_false)


_FUNCTIONS: dict[str, Callable[[Context, Any], Any]] = {
    "Ref": lambda c, a: c.ref(str(a)),
    "Condition": lambda c, a: c.condition(str(a)),
    "Fn::Sub": _sub,
    "Fn::GetAtt": _get_att,
    "Fn::Join": lambda c, a: str(a[0]).join(str(v) for v in c.evaluate(a[1])),
    "Fn::Select": lambda c, a: c.evaluate(a[1])[int(c.evaluate(a[0]))],
    "Fn::Split": lambda c, a: str(c.evaluate(a[1])).split(str(a[0])),
    "Fn::If": _if,
    "Fn::Equals": lambda c, a: c.evaluate(a[0]) == c.evaluate(a[1]),
    "Fn::Not": lambda c, a: not c.evaluate(a[0]),
    "Fn::And": lambda c, a: all(c.evaluate(v) for v in a),
    "Fn::Or": lambda c, a: any(c.evaluate(v) for v in a),
}


def creation_order(resources: Mapping[str, Any]) -> list[str]:
    """Logical ids, each after what it refers to (Ref, GetAtt, Sub, DependsOn); a cycle is the
    `Circular dependency` validation error CloudFormation gives."""
    edges: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends = resource.get("DependsOn") or []
        explicit = {depends} if isinstance(depends, str) else set(depends)
        edges[logical_id] = (dependencies(resource.get("Properties") or {}) | explicit) & set(resources)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise validation_error(f"Circular dependency between resources: [{', '.join(sorted(path))}]")
        state[node] = 1
        for child in sorted(edges[node]):
            visit(child, [*path, child])
        state[node] = 2
        order.append(node)

    for logical_id in resources:
        visit(logical_id, [logical_id])
    return order
