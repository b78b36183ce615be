"""What kube-apiserver defaults in the workload kinds' specs (``SetDefaults_Deployment``,
``_StatefulSet``, ``_DaemonSet`` of apps/v1, ``_Job`` and ``_CronJob`` of batch/v1) and a Service's
(``SetDefaults_Service``: type, session affinity, traffic policies, each port's protocol and target
port; its cluster IP is given on write only, ``service_ips``) and a HorizontalPodAutoscaler's
(autoscaling/v2's ``SetDefaults_HorizontalPodAutoscaler``), filled in when
an object is written and when it is read, as kube-apiserver does on both paths: an object stored
before a default existed is served with it, and writing back what was read changes nothing.

Tools read these fields: ``helm install --wait`` dereferences a Deployment's and a StatefulSet's
``spec.replicas`` and takes ``maxUnavailable`` from the rolling update; ``kubectl describe`` prints
the strategy; ``kubectl rollout status`` refuses a StatefulSet or DaemonSet whose update strategy
is not RollingUpdate. The pod template's own defaults (``restartPolicy``, ``dnsPolicy``,
``terminationGracePeriodSeconds``, ...) are left to each member, which fills them in its copy.

Every function returns a new object and never changes its argument (a stored body's nested values
are shared with the row it was read from).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engines.kube.labels import JOB_NAME_LABELS, JOB_UID_LABELS

Json = dict[str, Any]


def _field(spec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``spec[key]`` when a mapping, else an empty one."""
    value = spec.get(key)
    return value if isinstance(value, Mapping) else {}


def _rolling(strategy: Mapping[str, Any], key: str, defaults: Json) -> Json:
    """``strategy`` with type RollingUpdate when unset, and the rolling update's unset fields
    given ``defaults`` when it is a rolling update."""
    found = {**strategy, "type": strategy.get("type") or "RollingUpdate"}
    if found["type"] == "RollingUpdate":
        found[key] = {**defaults, **_field(found, key)}
    return found


def _deployment(spec: Json) -> None:
    spec.setdefault("replicas", 1)
    strategy = _field(spec, "strategy")
    spec["strategy"] = _rolling(strategy, "rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _statefulset(spec: Json) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _field(spec, "updateStrategy")
    # kube-apiserver gives a rolling update a partition of 0 only when it has a rollingUpdate
    # (one it made for an unset type included).
    if not strategy.get("type") or isinstance(strategy.get("rollingUpdate"), Mapping):
        spec["updateStrategy"] = _rolling(strategy, "rollingUpdate", {"partition": 0})
    retention = _field(spec, "persistentVolumeClaimRetentionPolicy")
    spec["persistentVolumeClaimRetentionPolicy"] = {
        "whenDeleted": retention.get("whenDeleted") or "Retain",
        "whenScaled": retention.get("whenScaled") or "Retain",
    }
    spec.setdefault("revisionHistoryLimit", 10)


def _daemonset(spec: Json) -> None:
    strategy = _field(spec, "updateStrategy")
    spec["updateStrategy"] = _rolling(strategy, "rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
    spec.setdefault("revisionHistoryLimit", 10)


def _job(spec: Json) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6 if spec.get("backoffLimitPerIndex") is None else 2**31 - 1)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault(
        "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
    )


def _cronjob(spec: Json) -> None:
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)


def _service(spec: Json) -> None:
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if kind != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if isinstance(spec.get("ports"), list):
        spec["ports"] = [_port(port) if isinstance(port, Mapping) else port for port in spec["ports"]]


def _port(port: Mapping[str, Any]) -> Json:
    """A Service port with its protocol, and its target port the port itself when it names none."""
    filled = {"protocol": "TCP", **port}
    if not filled.get("targetPort") and filled.get("port") is not None:
        filled["targetPort"] = filled["port"]
    return filled


# autoscaling/v2's: a scale-up rule of at most 4 pods or 100 % each 15 s, the larger; a scale-down
# rule of 100 % each 15 s, its stabilization window left to the controller's flag (5 minutes).
_SCALE_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_SCALE_DOWN = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _horizontal_pod_autoscaler(spec: Json) -> None:
    """At least 1 replica; 80 % CPU when no metric is given (autoscaling/v1's implicit target); a
    behavior given has each rule's unset fields filled in."""
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        target = {"type": "Utilization", "averageUtilization": 80}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, Mapping):
        spec["behavior"] = {
            **behavior,
            "scaleUp": _rules(behavior.get("scaleUp"), _SCALE_UP),
            "scaleDown": _rules(behavior.get("scaleDown"), _SCALE_DOWN),
        }


def _rules(given: Any, defaults: Json) -> Json:
    found = given if isinstance(given, Mapping) else {}
    return {**defaults, **{k: v for k, v in found.items() if v is not None}}


_DEFAULTERS: dict[tuple[str, str], Callable[[Json], None]] = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cronjob,
    ("", "Service"): _service,
    ("autoscaling", "HorizontalPodAutoscaler"): _horizontal_pod_autoscaler,
}


def defaulted(group: str, obj: Json) -> Json:
    """``obj`` (of API group ``group``) with kube-apiserver's defaults in its spec: a new object
    whose spec is a new mapping; ``obj`` itself when its kind has none or its spec is not a mapping
    (validation answers that)."""
    defaulter = _DEFAULTERS.get((group, str(obj.get("kind"))))
    spec = obj.get("spec")
    if defaulter is None or not isinstance(spec, Mapping):
        return obj
    filled = dict(spec)
    defaulter(filled)
    return {**obj, "spec": filled}


def with_job_selector(obj: Json, uid: str, name: str) -> Json:
    """A Job of the endpoint with the selector and template labels kube-apiserver generates from its
    uid (the Job strategy's ``generateSelector``), so ``kubectl logs job/NAME`` and ``kubectl
    describe job`` select its pods; ``obj`` itself for any other object, a Job that picks its own
    selector, or one that already has a selector. Members get their copies without them
    (``policies.federation.manifests``): each generates its own from its copy's uid."""
    spec = obj.get("spec")
    if obj.get("kind") != "Job" or not isinstance(spec, Mapping) or spec.get("manualSelector"):
        return obj
    if spec.get("selector") or not uid:
        return obj
    template = spec.get("template")
    if not isinstance(template, Mapping):
        return obj
    metadata = dict(template.get("metadata") or {})
    generated = dict.fromkeys(JOB_UID_LABELS, uid) | dict.fromkeys(JOB_NAME_LABELS, name)
    metadata["labels"] = {**(metadata.get("labels") or {}), **generated}
    selector = {"matchLabels": {JOB_UID_LABELS[0]: uid}}
    return {**obj, "spec": {**spec, "selector": selector, "template": {**template, "metadata": metadata}}}
