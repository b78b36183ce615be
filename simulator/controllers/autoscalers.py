"""The horizontal pod autoscaler of kube-controller-manager (autoscaling/v2), every 15 s:

- the target (``scaleTargetRef``: a Deployment, StatefulSet or ReplicaSet of the namespace) is read;
  missing, ``AbleToScale`` is False (``FailedGetScale``); at zero replicas scaling is disabled;
- outside ``minReplicas``..``maxReplicas`` it is brought inside at once;
- else each metric proposes a count (only ``Resource`` metrics, cpu or memory, by ``Utilization``
  or ``AverageValue``, from the metrics the simulated pods report, ``simulator.metrics``; no
  metrics at all means 80 % CPU, as kube-apiserver defaults them): ``ceil(running pods × usage /
  target)``, unchanged within a 10 % tolerance; the largest proposal wins;
- a scale-down takes the largest proposal of the last five minutes (the default stabilization
  window), a scale-up at most doubles (or adds four pods);
- the status says what the controller does: ``currentReplicas``, ``desiredReplicas``,
  ``currentMetrics``, ``lastScaleTime`` and the conditions ``AbleToScale``, ``ScalingActive`` and
  ``ScalingLimited`` with kube-controller-manager's reasons and messages (Argo CD's health check
  reads them: without them an HPA is "Waiting to Autoscale").

A pod without a request for the metric's resource makes the metric fail (``ScalingActive`` False,
``FailedGetResourceMetric``), as it does on a cluster; so does a kind of metric other than Resource.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from simulator.api import ClusterApi
from simulator.clock import format_timestamp
from simulator.controllers.interpod import selector_matches
from simulator.controllers.workloads import update_status_if_changed
from simulator.errors import ApiError
from simulator.metrics import container_usage
from simulator.quantity import container_requests, parse_quantity
from simulator.resources import DEPLOYMENTS, HPAS, PODS, REPLICASETS, STATEFULSETS, ResourceType

Json = dict[str, Any]
SYNC_SECONDS = 15.0
TOLERANCE = 0.1
DOWNSCALE_WINDOW_SECONDS = 300.0
DEFAULT_METRICS: list[Json] = [
    {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
]
_TARGETS: dict[str, ResourceType] = {
    "Deployment": DEPLOYMENTS,
    "StatefulSet": STATEFULSETS,
    "ReplicaSet": REPLICASETS,
}


class MetricFailed(Exception):
    """A metric could not give a count: (reason, message) as kube-controller-manager says them."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _condition(kind: str, status: str, reason: str, message: str) -> Json:
    return {"type": kind, "status": status, "reason": reason, "message": message}


class HorizontalPodAutoscalerController:
    name = "horizontal-pod-autoscaler"
    watches = frozenset({HPAS.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api
        # (namespace, name) -> (simulated time, recommended replicas), for the downscale window
        self._recommendations: dict[tuple[str, str], list[tuple[float, int]]] = {}
        self._synced: dict[tuple[str, str], float] = {}  # when each HPA was last synced

    def reconcile(self, now: float) -> float | None:
        """Each HPA at most every ``SYNC_SECONDS`` (kube-controller-manager's queue holds an HPA
        that changed, its own status writes included, until its period is up); a new one at once."""
        due: float | None = None
        for stored in self.api.store.list(HPAS).items:
            key = (stored.obj["metadata"]["namespace"], stored.obj["metadata"]["name"])
            last = self._synced.get(key)
            if last is None or now - last >= SYNC_SECONDS:
                self._sync(stored.obj, now)
                last = self._synced[key] = now
            due = min(due, last + SYNC_SECONDS) if due is not None else last + SYNC_SECONDS
        return due

    def _sync(self, hpa: Json, now: float) -> None:
        metadata, spec = hpa["metadata"], hpa.get("spec") or {}
        namespace, key = metadata["namespace"], (metadata["namespace"], metadata["name"])
        reference = spec.get("scaleTargetRef") or {}
        resource = _TARGETS.get(str(reference.get("kind")))
        target = self.api.store.try_get(resource, namespace, str(reference.get("name"))) if resource else None
        status = dict(hpa.get("status") or {})
        if resource is None or target is None:
            plural = resource.plural if resource else str(reference.get("kind", "")).lower()
            message = (
                "the HPA controller was unable to get the target's current scale: "
                f'{plural} "{reference.get("name")}" not found'
            )
            self._write(hpa, status, now, [_condition("AbleToScale", "False", "FailedGetScale", message)])
            self._event(hpa, "FailedGetScale", message, "Warning")
            return
        current = int((target.obj.get("spec") or {}).get("replicas", 1))
        minimum, maximum = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        got = _condition(
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        )
        conditions = [got]
        metrics: list[Json] = list(status.get("currentMetrics") or [])
        reason = ""  # why it rescales (SuccessfulRescale's message), as the HPA controller words it
        if current == 0 and minimum != 0:
            desired = 0
            message = "scaling is disabled since the replica count of the target is zero"
            conditions.append(_condition("ScalingActive", "False", "ScalingDisabled", message))
        elif current > maximum or current < minimum:
            desired = maximum if current > maximum else minimum
            bound = "above Spec.MaxReplicas" if current > maximum else "below Spec.MinReplicas"
            reason = f"Current number of replicas {bound}"
        else:
            try:
                proposal, metrics, described = self._proposal(spec, target.obj, current, now)
            except MetricFailed as failed:
                conditions.append(_condition("ScalingActive", "False", failed.reason, str(failed)))
                self._event(hpa, failed.reason, str(failed), "Warning")
                self._write(
                    hpa, {**status, "currentReplicas": current, "desiredReplicas": current}, now, conditions
                )
                return
            message = f"the HPA was able to successfully calculate a replica count from {described}"
            conditions.append(_condition("ScalingActive", "True", "ValidMetricFound", message))
            desired = self._stabilized(key, current, proposal, now)
            desired, limited = _limited(desired, minimum, maximum)
            conditions.append(limited)
            reason = f"{described} above target" if desired > current else "All metrics below target"
        scaled = desired != current
        if scaled:
            with contextlib.suppress(ApiError):  # deleted meanwhile: the next sync says so
                self.api.update(
                    resource,
                    namespace,
                    target.obj["metadata"]["name"],
                    lambda o: o["spec"].update(replicas=desired),
                )
            message = f"the HPA controller was able to update the target scale to {desired}"
            conditions[0] = _condition("AbleToScale", "True", "SucceededRescale", message)
            self._event(hpa, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            status["lastScaleTime"] = format_timestamp(now)
        else:
            conditions[0] = _condition(
                "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"
            )
        new = {**status, "currentReplicas": current, "desiredReplicas": desired}
        if metrics:
            new["currentMetrics"] = metrics
        self._write(hpa, new, now, conditions)

    def _proposal(self, spec: Json, target: Json, current: int, now: float) -> tuple[int, list[Json], str]:
        """The largest count the metrics propose, what they measured, and in words what gave it."""
        pods = [
            p.obj
            for p in self.api.store.list(PODS, target["metadata"]["namespace"]).items
            if (p.obj.get("status") or {}).get("phase") == "Running"
            and not p.obj["metadata"].get("deletionTimestamp")
            and selector_matches(
                (target.get("spec") or {}).get("selector"), p.obj["metadata"].get("labels") or {}
            )
        ]
        best, measured, described = -1, [], ""
        for metric in spec.get("metrics") or DEFAULT_METRICS:
            if metric.get("type") != "Resource":
                kind = str(metric.get("type"))
                raise MetricFailed(
                    f"FailedGet{kind}Metric",
                    f"the HPA was unable to compute the replica count: {kind} metrics are not served here",
                )
            proposal, status, words = _resource_proposal(metric["resource"], pods, current, now)
            measured.append(status)
            if proposal > best:
                best, described = proposal, words
        return best, measured, described

    def _stabilized(self, key: tuple[str, str], current: int, proposal: int, now: float) -> int:
        history = [
            (t, r) for t, r in self._recommendations.get(key, []) if now - t < DOWNSCALE_WINDOW_SECONDS
        ]
        history.append((now, proposal))
        self._recommendations[key] = history
        if proposal < current:  # down: the largest of the window, never above the current count
            return min(current, max(r for _, r in history))
        return min(proposal, max(2 * current, current + 4))  # up: at most double, or four more

    def _event(self, hpa: Json, reason: str, message: str, event_type: str = "Normal") -> None:
        """What kube-controller-manager's HPA controller records on the HPA (``kubectl describe hpa``)."""
        self.api.record_event(
            hpa, reason, message, event_type=event_type, component="horizontal-pod-autoscaler"
        )

    def _write(self, hpa: Json, status: Json, now: float, conditions: list[Json]) -> None:
        before = {c.get("type"): c for c in (hpa.get("status") or {}).get("conditions") or []}
        stamped = []
        for condition in conditions:
            old = before.get(condition["type"]) or {}
            moved = old.get("status") != condition["status"]
            stamp = (
                format_timestamp(now)
                if moved or not old.get("lastTransitionTime")
                else old["lastTransitionTime"]
            )
            stamped.append({**condition, "lastTransitionTime": stamp})
        update_status_if_changed(self.api, HPAS, hpa, {**status, "conditions": stamped})


def _limited(desired: int, minimum: int, maximum: int) -> tuple[int, Json]:
    if desired > maximum:
        message = "the desired replica count is more than the maximum replica count"
        return maximum, _condition("ScalingLimited", "True", "TooManyReplicas", message)
    if desired < minimum:
        message = "the desired replica count is less than the minimum replica count"
        return minimum, _condition("ScalingLimited", "True", "TooFewReplicas", message)
    return desired, _condition(
        "ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range"
    )


def _resource_proposal(metric: Json, pods: list[Json], current: int, now: float) -> tuple[int, Json, str]:
    """One Resource metric's proposal over the running pods, its ``currentMetrics`` entry, and what
    it measured in words."""
    name, target = str(metric.get("name")), metric.get("target") or {}
    used = requested = 0.0
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            cores, memory = container_usage(pod, container, now)
            used += cores if name == "cpu" else memory
            request = container_requests(container).get(name)
            if request is None:
                raise MetricFailed(
                    "FailedGetResourceMetric",
                    f"the HPA was unable to compute the replica count: failed to get {name} utilization: "
                    f"missing request for {name} in container {container.get('name')} of Pod {pod['metadata']['name']}",
                )
            requested += request
    if not pods:
        raise MetricFailed(
            "FailedGetResourceMetric",
            f"the HPA was unable to compute the replica count: failed to get {name} utilization: "
            f"unable to get metrics for resource {name}: no metrics returned from resource metrics API",
        )
    average = used / len(pods)
    utilization = int(100 * used / requested) if requested else 0
    if target.get("type") == "AverageValue":
        wanted = parse_quantity(target.get("averageValue", 0))
        ratio = average / wanted if wanted else 1.0
        words = f"{name} resource"
    else:
        ratio = utilization / float(target.get("averageUtilization") or 80)
        words = f"{name} resource utilization (percentage of request)"
    proposal = current if abs(ratio - 1.0) <= TOLERANCE else math.ceil(ratio * len(pods))
    value = f"{round(average * 1000)}m" if name == "cpu" else str(round(average))
    current_metric: Json = {"averageValue": value}
    if target.get("type") != "AverageValue":
        current_metric["averageUtilization"] = utilization
    return proposal, {"type": "Resource", "resource": {"name": name, "current": current_metric}}, words
