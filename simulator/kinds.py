"""Per-kind defaulting and validation: what the API server's registry strategies do on writes.

Only the rules clients notice are kept: defaults that appear in read-back objects (pod
`restartPolicy`, deployment strategy, job selector, service clusterIP, ...) and the validation
errors (422) for malformed names, pods without containers, selectors that miss their template,
jobs with `restartPolicy: Always`, and pod spec changes other than the mutable fields.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from simulator.errors import ApiError, invalid
from simulator.kinds_more import MORE_WORKLOADS, default_more, validate_more
from simulator.resources import (
    DEPLOYMENTS,
    HPAS,
    JOBS,
    NAMESPACES,
    NODES,
    PDBS,
    PODS,
    REPLICASETS,
    SECRETS,
    SERVICES,
    ResourceType,
)
from simulator.selectors import selector_from_object
from simulator.storage import default_storage, validate_storage
from simulator.store import JsonObject

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The labels the job controller puts on its pods and selects them by.
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
DEFAULT_TOLERATION_SECONDS = 300


def validate_name(resource: ResourceType, name: str) -> None:
    label_only = resource in (NAMESPACES, SERVICES)
    pattern, limit = (_DNS_LABEL, 63) if label_only else (_DNS_SUBDOMAIN, 253)
    if not name:
        raise invalid(
            resource.kind,
            name,
            resource.group,
            [("metadata.name", "Required value: name or generateName is required")],
        )
    if len(name) > limit or not pattern.match(name):
        kind_of_name = "RFC 1123 label" if label_only else "RFC 1123 subdomain"
        raise invalid(
            resource.kind,
            name,
            resource.group,
            [
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase {kind_of_name} must consist of lower case alphanumeric '
                    "characters, '-' or '.', and must start and end with an alphanumeric character",
                )
            ],
        )


def _default_pod_spec(spec: JsonObject) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")


def _default_tolerations(spec: JsonObject) -> None:
    """The DefaultTolerationSeconds admission plugin: tolerate not-ready/unreachable for 5 min."""
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations if isinstance(t, dict)):
            tolerations.append(
                {
                    "key": key,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                }
            )


def qos_class(spec: JsonObject) -> str:
    containers = spec.get("containers") or []
    requests_and_limits = [
        ((c.get("resources") or {}).get("requests") or {}, (c.get("resources") or {}).get("limits") or {})
        for c in containers
    ]
    if not any(r or lim for r, lim in requests_and_limits):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu")
        and lim.get("memory")
        and r.get("cpu", lim["cpu"]) == lim["cpu"]
        and r.get("memory", lim["memory"]) == lim["memory"]
        for r, lim in requests_and_limits
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _validate_pod_spec(kind: str, name: str, group: str, spec: Any, prefix: str) -> None:
    causes: list[tuple[str, str]] = []
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not containers:
        causes.append((f"{prefix}.containers", "Required value"))
    else:
        seen: set[str] = set()
        for n, container in enumerate(containers):
            cname = container.get("name") if isinstance(container, dict) else None
            if not cname:
                causes.append((f"{prefix}.containers[{n}].name", "Required value"))
            elif cname in seen:
                causes.append((f"{prefix}.containers[{n}].name", f'Duplicate value: "{cname}"'))
            else:
                seen.add(cname)
            if isinstance(container, dict) and not container.get("image"):
                causes.append((f"{prefix}.containers[{n}].image", "Required value"))
    if causes:
        raise invalid(kind, name, group, causes)


def _validate_workload(resource: ResourceType, obj: JsonObject) -> None:
    name = obj["metadata"]["name"]
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    selector = spec.get("selector")
    if resource is not JOBS and not selector:
        raise invalid(resource.kind, name, resource.group, [("spec.selector", "Required value")])
    if selector is not None:
        template_labels = (template.get("metadata") or {}).get("labels") or {}
        if not selector_from_object(selector).matches(template_labels):
            raise invalid(
                resource.kind,
                name,
                resource.group,
                [
                    (
                        "spec.template.metadata.labels",
                        f"Invalid value: {template_labels}: `selector` does not match template `labels`",
                    )
                ],
            )
    _validate_pod_spec(resource.kind, name, resource.group, template.get("spec") or {}, "spec.template.spec")
    restart_policy = (template.get("spec") or {}).get("restartPolicy")
    if resource is JOBS and restart_policy not in ("Never", "OnFailure"):
        raise invalid(
            resource.kind,
            name,
            resource.group,
            [
                (
                    "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{restart_policy}": supported values: "OnFailure", "Never"',
                )
            ],
        )


def default_on_create(
    resource: ResourceType, obj: JsonObject, *, allocate_cluster_ip: Callable[[str, str], str] | None = None
) -> None:
    """Fill the defaults the real API server adds on create. Mutates `obj` (a private copy)."""
    meta = obj["metadata"]
    if resource is PODS:
        spec = obj.setdefault("spec", {})
        _default_pod_spec(spec)
        _default_tolerations(spec)
        spec.setdefault("serviceAccountName", "default")
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
    elif resource in (DEPLOYMENTS, REPLICASETS):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if resource is DEPLOYMENTS:
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault(
                "strategy",
                {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            )
        _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
        obj["status"] = {}
    elif resource is JOBS:
        spec = obj.setdefault("spec", {})
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        template = spec.setdefault("template", {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        if not spec.get("manualSelector"):
            uid = meta["uid"]
            spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
            labels.update(
                {
                    JOB_UID_LABEL: uid,
                    JOB_NAME_LABEL: meta["name"],
                    "controller-uid": uid,
                    "job-name": meta["name"],
                }
            )
        _default_pod_spec(template.setdefault("spec", {}))
        obj["status"] = {}
    elif resource is SERVICES:
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None" and allocate_cluster_ip is not None:
            spec["clusterIP"] = allocate_cluster_ip(meta["name"], str(spec.get("clusterIP") or ""))
        if spec.get("clusterIP"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj["status"] = {"loadBalancer": {}}
    elif resource is NAMESPACES:
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif resource in MORE_WORKLOADS:
        default_more(resource, obj, _default_pod_spec)
    elif resource is HPAS:
        obj["status"] = {"currentReplicas": 0, "desiredReplicas": 0}
    elif resource is PDBS:
        obj["status"] = {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}
    elif resource is SECRETS:
        _fold_string_data(obj)
        obj.setdefault("type", "Opaque")
    else:
        default_storage(resource, obj)


def _fold_string_data(obj: JsonObject) -> None:
    """`stringData` is write-only: the API server merges it into base64 `data`."""
    string_data = obj.pop("stringData", None)
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _effect_errors(effect: Any, path: str, *, allow_empty: bool) -> list[tuple[str, str]]:
    """core/validation's validateTaintEffect."""
    if not effect:
        return [] if allow_empty else [(path, "Required value")]
    if effect not in TAINT_EFFECTS:
        supported = ", ".join(f'"{e}"' for e in TAINT_EFFECTS)
        return [(path, f'Unsupported value: "{effect}": supported values: {supported}')]
    return []


def _validate_taints(name: str, spec: JsonObject) -> None:
    """core/validation's validateNodeTaints: a key, a known effect, unique (key, effect) pairs."""
    causes: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for n, taint in enumerate(spec.get("taints") or ()):
        path = f"spec.taints[{n}]"
        taint = taint if isinstance(taint, dict) else {}
        key, effect = str(taint.get("key") or ""), taint.get("effect")
        if not key:
            causes.append((f"{path}.key", 'Invalid value: "": name part must be non-empty'))
        causes.extend(_effect_errors(effect, f"{path}.effect", allow_empty=False))
        if (key, str(effect)) in seen:
            causes.append(
                (path, f"Duplicate value: {json.dumps(taint)}: taints must be unique by key and effect pair")
            )
        seen.add((key, str(effect)))
    if causes:
        raise invalid("Node", name, "", causes)


def validate(resource: ResourceType, obj: JsonObject, old: JsonObject | None) -> None:
    name = obj["metadata"].get("name", "")
    validate_name(resource, name)
    if resource is NODES:
        _validate_taints(name, obj.get("spec") or {})
    if resource is PODS and old is not None and obj.get("spec") is old.get("spec"):
        return  # a status write keeps the stored (valid) spec itself: nothing to check again
    if resource is PODS:
        tolerations = (obj.get("spec") or {}).get("tolerations") or ()
        causes = [
            cause
            for n, t in enumerate(tolerations)
            if isinstance(t, dict)
            for cause in _effect_errors(t.get("effect"), f"spec.tolerations[{n}].effect", allow_empty=True)
        ]
        if causes:
            raise invalid("Pod", name, "", causes)
        _validate_pod_spec(resource.kind, name, "", obj.get("spec"), "spec")
        if old is not None:
            _validate_pod_update(name, old.get("spec") or {}, obj.get("spec") or {})
    elif resource in (DEPLOYMENTS, REPLICASETS, JOBS):
        _validate_workload(resource, obj)
        if (
            old is not None
            and resource is not JOBS
            and (old.get("spec") or {}).get("selector") != (obj.get("spec") or {}).get("selector")
        ):
            raise invalid(
                resource.kind, name, resource.group, [("spec.selector", "Invalid value: field is immutable")]
            )
    elif resource in MORE_WORKLOADS:
        validate_more(resource, obj, old, _validate_pod_spec)
    elif resource is SECRETS:
        _fold_string_data(obj)
    else:
        validate_storage(resource, obj, old)


_MUTABLE_POD_FIELDS = ("activeDeadlineSeconds", "terminationGracePeriodSeconds")


def _validate_pod_update(name: str, old_spec: JsonObject, new_spec: JsonObject) -> None:
    """Pod specs are immutable apart from images, tolerations (additions) and a few scalars."""

    def comparable(spec: JsonObject) -> JsonObject:
        reduced = {k: v for k, v in spec.items() if k not in ("tolerations", *_MUTABLE_POD_FIELDS)}
        for field in ("containers", "initContainers"):
            if field in reduced:
                reduced[field] = [{k: v for k, v in c.items() if k != "image"} for c in reduced[field]]
        return reduced

    if comparable(old_spec) != comparable(new_spec):
        raise ApiError(
            422,
            "Invalid",
            f'Pod "{name}" is invalid: spec: Forbidden: pod updates may not change fields other than '
            "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
            "`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
            "(allow it to be set to 1 if it was previously negative)",
            details={
                "name": name,
                "kind": "Pod",
                "causes": [{"reason": "FieldValueForbidden", "field": "spec"}],
            },
        )
