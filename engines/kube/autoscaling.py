"""HorizontalPodAutoscalers between autoscaling/v1 and autoscaling/v2, converted as kube-apiserver
converts them (``pkg/apis/autoscaling/v1/conversion.go``), so that one object read and written at
either version keeps everything v2 can say.

autoscaling/v1 has one metric, ``targetCPUUtilizationPercentage``. The rest of a v2 object travels
in v1 as annotations that hold JSON, and is taken out of them again when v1 is written back:

- ``autoscaling.alpha.kubernetes.io/metrics``: every metric but the CPU utilization target, in
  v1's own metric format (``targetAverageValue``, ``metricName``, ...);
- ``autoscaling.alpha.kubernetes.io/current-metrics``: the status's current metrics, all of them;
- ``autoscaling.alpha.kubernetes.io/conditions``: the status's conditions;
- ``autoscaling.alpha.kubernetes.io/behavior``: the spec's scaling behavior, in the API server's
  internal type's Go field names (``ScaleUp``, ``StabilizationWindowSeconds``, ...), which is what
  kube-apiserver writes there; read back case-insensitively, as Go's decoder reads JSON.

An unset CPU target is left unset here: the v2 defaults (80 % CPU when no metric is given) fill it
in afterwards, for objects written at either version. Both functions also take an apply
configuration (a part of an object) and convert only what it has.

Pure: no Django, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

Json = dict[str, Any]
V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (
    METRICS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
)
V1_SPEC_FIELDS = ("scaleTargetRef", "minReplicas", "maxReplicas", "targetCPUUtilizationPercentage")
_STATUS_COUNTS = ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
# The internal behavior type's fields, as Go's encoder names them (no JSON tags).
_BEHAVIOR_NAMES = {
    "scaleUp": "ScaleUp",
    "scaleDown": "ScaleDown",
    "stabilizationWindowSeconds": "StabilizationWindowSeconds",
    "selectPolicy": "SelectPolicy",
    "policies": "Policies",
    "type": "Type",
    "value": "Value",
    "periodSeconds": "PeriodSeconds",
}
# A metric's type and the field that holds its source.
_SOURCES = {
    "Object": "object",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
    "External": "external",
}
_RULES = ("stabilizationWindowSeconds", "selectPolicy", "policies")
_POLICY = ("type", "value", "periodSeconds")


class ConversionError(ValueError):
    """An object that cannot be converted (an annotation that does not hold what it should, a
    field the version does not have); the message says which field."""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _present(pairs: Mapping[str, Any]) -> Json:
    """The pairs whose value is set (None is how a v1 or v2 field is left unset here)."""
    return {key: value for key, value in pairs.items() if value is not None}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# --- metrics -------------------------------------------------------------------------------------


# Each source's fields in v1 (the annotations' format) and where v2 keeps them. ``*`` is the side:
# ``target`` in a metric spec (v1's ``targetAverageValue``, v2's ``target.averageValue``), ``current``
# in a metric status (``currentAverageValue``, ``current.averageValue``).
_V1_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Object": (
        ("target", "describedObject"),
        ("metricName", "metric.name"),
        ("*Value", "*.value"),
        ("selector", "metric.selector"),
        ("averageValue", "*.averageValue"),
    ),
    "Pods": (
        ("metricName", "metric.name"),
        ("*AverageValue", "*.averageValue"),
        ("selector", "metric.selector"),
    ),
    "Resource": (
        ("name", "name"),
        ("*AverageUtilization", "*.averageUtilization"),
        ("*AverageValue", "*.averageValue"),
    ),
    "ContainerResource": (
        ("name", "name"),
        ("*AverageUtilization", "*.averageUtilization"),
        ("*AverageValue", "*.averageValue"),
        ("container", "container"),
    ),
    "External": (
        ("metricName", "metric.name"),
        ("metricSelector", "metric.selector"),
        ("*Value", "*.value"),
        ("*AverageValue", "*.averageValue"),
    ),
}


def metric_v2_to_v1(metric: Mapping[str, Any], side: str = "target") -> Json:
    """A v2 metric spec (``side`` "target") or status ("current") in v1's format."""
    kind = str(metric.get("type"))
    out: Json = {"type": metric.get("type")}
    key = _SOURCES.get(kind)
    if key is None:
        return out
    source, fields = _mapping(metric.get(key)), {}
    for v1, v2 in _V1_FIELDS[kind]:
        value: Any = source
        for part in v2.replace("*", side).split("."):
            value = _mapping(value).get(part)
        fields[v1.replace("*", side)] = value
    out[key] = _present(fields)
    return out


def metric_v1_to_v2(metric: Mapping[str, Any], side: str = "target") -> Json:
    """A v1 (annotation) metric spec (``side`` "target") or status ("current") as v2's; a spec's
    target gets its type as kube-apiserver's conversion gives it."""
    kind = str(metric.get("type"))
    out: Json = {"type": metric.get("type")}
    key = _SOURCES.get(kind)
    if key is None:
        return out
    source = _mapping(metric.get(key))
    converted: Json = {}
    for v1, v2 in _V1_FIELDS[kind]:
        value = source.get(v1.replace("*", side))
        if value is not None:
            *parents, last = v2.replace("*", side).split(".")
            place = converted
            for part in parents:
                place = place.setdefault(part, {})
            place[last] = value
    if side == "target":
        converted["target"] = {"type": _target_type(kind, source), **converted.get("target", {})}
    out[key] = converted
    return out


def _target_type(kind: str, source: Mapping[str, Any]) -> str:
    """What a v1 metric's target is in v2 (``pkg/apis/autoscaling/v1/conversion.go``)."""
    if kind == "Pods":
        return "AverageValue"
    if kind in ("Resource", "ContainerResource"):
        return "AverageValue" if source.get("targetAverageUtilization") is None else "Utilization"
    if kind == "Object":
        return "Value" if source.get("averageValue") is None else "AverageValue"
    return "Value" if source.get("targetValue") is not None else "AverageValue"


def _is_cpu_utilization(metric: Any) -> bool:
    """v1's one metric: a Resource metric of cpu with a utilization target."""
    resource = _mapping(_mapping(metric).get("resource"))
    return (
        _mapping(metric).get("type") == "Resource"
        and resource.get("name") == "cpu"
        and _mapping(resource.get("target")).get("averageUtilization") is not None
    )


def _cpu_utilization(percent: Any) -> Json:
    target = {"type": "Utilization", "averageUtilization": percent}
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


# --- behavior ------------------------------------------------------------------------------------


def _renamed(value: Any, fields: tuple[str, ...], nested: Callable[[str, Any], Any]) -> Json:
    """A behavior part as Go's encoder writes the internal type: every field, null when unset."""
    found = _mapping(value)
    return {_BEHAVIOR_NAMES[field]: nested(field, found.get(field)) for field in fields}


def behavior_to_annotation(behavior: Mapping[str, Any]) -> str:
    def rules(value: Any) -> Json | None:
        if value is None:
            return None
        return _renamed(value, _RULES, lambda field, found: policies(found) if field == "policies" else found)

    def policies(value: Any) -> list[Json] | None:
        if not isinstance(value, list):
            return None
        return [_renamed(policy, _POLICY, lambda _field, found: found) for policy in value]

    return _dumps({"ScaleUp": rules(behavior.get("scaleUp")), "ScaleDown": rules(behavior.get("scaleDown"))})


def _folded(value: Any, fields: tuple[str, ...]) -> Json:
    """A part of the annotation's behavior with its JSON names; its keys matched as Go's decoder
    matches them (case-insensitively), nulls left out."""
    found = {str(key).lower(): item for key, item in _mapping(value).items()}
    return _present({field: found.get(field.lower()) for field in fields})


def behavior_from_annotation(text: str) -> Json:
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise ConversionError(f"metadata.annotations[{BEHAVIOR_ANNOTATION}]: not JSON ({error})") from error
    if not isinstance(parsed, Mapping):
        raise ConversionError(f"metadata.annotations[{BEHAVIOR_ANNOTATION}]: not a JSON object")
    behavior = _folded(parsed, ("scaleUp", "scaleDown"))
    for direction, rules in list(behavior.items()):
        folded = _folded(rules, _RULES)
        if isinstance(folded.get("policies"), list):
            folded["policies"] = [_folded(policy, _POLICY) for policy in folded["policies"]]
        behavior[direction] = folded
    return behavior


# --- objects -------------------------------------------------------------------------------------


def _annotation_list(annotations: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    try:
        parsed = json.loads(str(annotations[key]))
    except ValueError as error:
        raise ConversionError(f"metadata.annotations[{key}]: not JSON ({error})") from error
    if not isinstance(parsed, list) or not all(isinstance(item, Mapping) for item in parsed):
        raise ConversionError(f"metadata.annotations[{key}]: not a JSON list of objects")
    return parsed


def to_v2(obj: Mapping[str, Any]) -> Json:
    """A v1 HorizontalPodAutoscaler (or an apply configuration of one) as v2: the CPU target one
    metric after those the metrics annotation holds, the behavior, current metrics and conditions
    out of their annotations, which are dropped. ConversionError for a spec field v1 does not have
    (v2's ``metrics`` sent as v1, say: kube-apiserver's strict decoding refuses it too) or an
    annotation that does not hold what it should."""
    metadata = _mapping(obj.get("metadata"))
    annotations = dict(_mapping(metadata.get("annotations")))
    carried = {key: annotations.pop(key) for key in ROUND_TRIP_ANNOTATIONS if key in annotations}
    out: Json = {**obj, "apiVersion": V2}
    if carried:
        kept = {k: v for k, v in metadata.items() if k != "annotations"}
        out["metadata"] = {**kept, "annotations": annotations} if annotations else kept
    spec = obj.get("spec")
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - set(V1_SPEC_FIELDS))
        if unknown:
            raise ConversionError(
                f"spec.{unknown[0]}: unknown field in an autoscaling/v1 HorizontalPodAutoscaler "
                f"(v1 has {', '.join(V1_SPEC_FIELDS)}; send other metrics and behavior as autoscaling/v2)"
            )
    if isinstance(spec, Mapping) or METRICS_ANNOTATION in carried or BEHAVIOR_ANNOTATION in carried:
        given = _mapping(spec)
        converted = {k: v for k, v in given.items() if k != "targetCPUUtilizationPercentage"}
        metrics = [metric_v1_to_v2(m) for m in _listed(carried, METRICS_ANNOTATION)]
        if given.get("targetCPUUtilizationPercentage") is not None:
            metrics.append(_cpu_utilization(given["targetCPUUtilizationPercentage"]))
        if metrics:
            converted["metrics"] = metrics
        if BEHAVIOR_ANNOTATION in carried:
            converted["behavior"] = behavior_from_annotation(str(carried[BEHAVIOR_ANNOTATION]))
        out["spec"] = converted
    status = obj.get("status")
    if (
        isinstance(status, Mapping)
        or CURRENT_METRICS_ANNOTATION in carried
        or CONDITIONS_ANNOTATION in carried
    ):
        given = _mapping(status)
        converted = {k: given[k] for k in _STATUS_COUNTS if k in given}
        if CURRENT_METRICS_ANNOTATION in carried:  # all of them, the CPU one with its raw value too
            converted["currentMetrics"] = [
                metric_v1_to_v2(m, "current") for m in _listed(carried, CURRENT_METRICS_ANNOTATION)
            ]
        elif given.get("currentCPUUtilizationPercentage") is not None:
            current = {"averageUtilization": given["currentCPUUtilizationPercentage"]}
            converted["currentMetrics"] = [
                {"type": "Resource", "resource": {"name": "cpu", "current": current}}
            ]
        if CONDITIONS_ANNOTATION in carried:
            converted["conditions"] = [dict(c) for c in _listed(carried, CONDITIONS_ANNOTATION)]
        out["status"] = converted
    return out


def _listed(carried: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return _annotation_list(carried, key) if key in carried else []


def to_v1(obj: Mapping[str, Any]) -> Json:
    """A v2 HorizontalPodAutoscaler as v1: the first CPU metric's utilization target as
    ``targetCPUUtilizationPercentage``, everything v1 has no field for in the annotations."""
    spec, status = _mapping(obj.get("spec")), _mapping(obj.get("status"))
    metrics = [m for m in spec.get("metrics") or [] if isinstance(m, Mapping)]
    carried: Json = {}
    others = [metric_v2_to_v1(m) for m in metrics if not _is_cpu_utilization(m)]
    if others:
        carried[METRICS_ANNOTATION] = _dumps(others)
    current = [m for m in status.get("currentMetrics") or [] if isinstance(m, Mapping)]
    if current:
        carried[CURRENT_METRICS_ANNOTATION] = _dumps([metric_v2_to_v1(m, "current") for m in current])
    if status.get("conditions"):
        carried[CONDITIONS_ANNOTATION] = _dumps(status["conditions"])
    if isinstance(spec.get("behavior"), Mapping):
        carried[BEHAVIOR_ANNOTATION] = behavior_to_annotation(spec["behavior"])
    out: Json = {**obj, "apiVersion": V1}
    if carried:
        metadata = _mapping(obj.get("metadata"))
        out["metadata"] = {**metadata, "annotations": {**_mapping(metadata.get("annotations")), **carried}}
    if "spec" in obj:
        converted = {k: spec[k] for k in V1_SPEC_FIELDS[:3] if k in spec}
        for metric in metrics:  # the first CPU metric decides, as kube-apiserver's conversion does
            resource = _mapping(metric.get("resource"))
            if metric.get("type") == "Resource" and resource.get("name") == "cpu":
                percent = _mapping(resource.get("target")).get("averageUtilization")
                if percent is not None:
                    converted["targetCPUUtilizationPercentage"] = percent
                break
        out["spec"] = converted
    if "status" in obj:
        # v1's replica counts are not pointers: always there.
        converted = {"currentReplicas": 0, "desiredReplicas": 0} | {
            k: status[k] for k in _STATUS_COUNTS if k in status
        }
        for metric in current:
            resource = _mapping(metric.get("resource"))
            if metric.get("type") == "Resource" and resource.get("name") == "cpu":
                percent = _mapping(resource.get("current")).get("averageUtilization")
                if percent is not None:
                    converted["currentCPUUtilizationPercentage"] = percent
        out["status"] = converted
    return out
