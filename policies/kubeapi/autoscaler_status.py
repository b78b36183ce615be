"""A federated HorizontalPodAutoscaler's status from its members' (each member's HPA scales its own
copy of the workload, between the HPA's bounds): replica counts summed, as Karmada aggregates
them; each metric's current use averaged over the members, weighted by their replicas (``kubectl
get hpa`` prints it: "cpu: 45%/50%"); the latest scale; and one condition of each type, the one
that says something is wrong where a member says so (named in its message), else the first
member's. Argo CD's health check reads the conditions: Healthy once an HPA scaled or its count is
within range, Degraded when a member cannot get its target's scale or its metrics, and "Waiting
to Autoscale" while no member reports any.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engines.kube import QuantityError, parse_quantity

Json = dict[str, Any]
CONDITION_TYPES = ("AbleToScale", "ScalingActive", "ScalingLimited")
# For each type, the status that says something is wrong (or limited) in a member.
_TELLING = {"AbleToScale": "False", "ScalingActive": "False", "ScalingLimited": "True"}


def _condition(kind: str, reports: Sequence[tuple[str, Json]]) -> Json | None:
    found = [
        (member, c)
        for member, status in reports
        for c in status.get("conditions") or []
        if c.get("type") == kind
    ]
    if not found:
        return None
    telling = [(member, c) for member, c in found if c.get("status") == _TELLING[kind]]
    if not telling:
        return dict(found[0][1])
    member, condition = telling[0]
    return {**condition, "message": f"{member}: {condition.get('message', '')}"}


def _quantity(value: Any) -> float | None:
    try:
        return float(parse_quantity(str(value)))
    except (QuantityError, ValueError):
        return None


def _metrics(reports: Sequence[tuple[str, Json]]) -> list[Json]:
    """Each metric (by position and name) averaged over the members that report it."""
    averaged: list[Json] = []
    first = next(
        (status.get("currentMetrics") for _, status in reports if status.get("currentMetrics")), None
    )
    for index, metric in enumerate(first or []):
        resource = metric.get("resource") or {}
        same = [
            (
                int(status.get("currentReplicas") or 0),
                (status["currentMetrics"][index].get("resource") or {}).get("current") or {},
            )
            for _, status in reports
            if len(status.get("currentMetrics") or []) > index
            and (status["currentMetrics"][index].get("resource") or {}).get("name") == resource.get("name")
        ]
        weight = sum(w for w, _ in same) or len(same)
        current: Json = {}
        utilizations = [(w, c["averageUtilization"]) for w, c in same if "averageUtilization" in c]
        if utilizations:
            current["averageUtilization"] = round(sum((w or 1) * u for w, u in utilizations) / weight)
        values = [(w, _quantity(c.get("averageValue"))) for w, c in same if c.get("averageValue") is not None]
        if values and all(v is not None for _, v in values):
            mean = sum((w or 1) * (v or 0.0) for w, v in values) / weight
            current["averageValue"] = (
                f"{round(mean * 1000)}m" if resource.get("name") == "cpu" else str(round(mean))
            )
        averaged.append({**metric, "resource": {**resource, "current": current}})
    return averaged


def autoscaler_status(reports: Sequence[tuple[str, Json]]) -> Json:
    """The federated HPA's status from ``reports``: (member name, its HPA's status), by name."""
    status: Json = {
        "currentReplicas": sum(int(s.get("currentReplicas") or 0) for _, s in reports),
        "desiredReplicas": sum(int(s.get("desiredReplicas") or 0) for _, s in reports),
    }
    metrics = _metrics(reports)
    if metrics:
        status["currentMetrics"] = metrics
    scaled = sorted(str(s["lastScaleTime"]) for _, s in reports if s.get("lastScaleTime"))
    if scaled:
        status["lastScaleTime"] = scaled[-1]
    conditions = [c for kind in CONDITION_TYPES if (c := _condition(kind, reports)) is not None]
    if conditions:
        status["conditions"] = conditions
    return status
