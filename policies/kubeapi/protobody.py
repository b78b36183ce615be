"""Objects sent as protobuf, read as the JSON they stand for.

kubectl 1.32 and later send what its ``create`` subcommands make with client-go's typed clients as
protobuf (``application/vnd.kubernetes.protobuf``: the ``k8s\\0`` prefix, a ``runtime.Unknown``
naming apiVersion and kind, the object's message), and do not retry as JSON after a 415. Read
here, by their messages' field numbers (k8s.io/api's ``generated.proto``), the kinds those
subcommands make: ConfigMap, Secret (``generic``, ``tls``, ``docker-registry``), Namespace,
ServiceAccount, Role, RoleBinding, and Deployment, Job (``create job --from=cronjob/NAME`` too) and
CronJob with their pod template's common fields, Service (``create service clusterip|nodeport|
loadbalancer|externalname``) and autoscaling/v1's HorizontalPodAutoscaler (``autoscale``). The Go encoder writes every field that is not a
pointer, empty or not, so an empty string, a zero, an empty message are "not set", as ``omitempty``
has them in JSON; a pointer's zero is kept. Nothing is dropped unread: a field this table does not
know that carries a value (a pod template's volumes, probes, affinity, ...), or a kind it does not
know, is a 415 that says how to send it as YAML instead.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from policies.kubeapi import errors, protowire

Json = dict[str, Any]
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# A field: (JSON name, how it is read). "string", "bytes" (base64 in JSON), "bool", "int", "time",
# "map" (string values), "map-bytes", "strings" (repeated string), or a message's name ("*Name" when
# repeated).
Field = tuple[str, str]
MESSAGES: dict[str, dict[int, Field]] = {
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "time"),
        11: ("labels", "map"),
        12: ("annotations", "map"),
        13: ("ownerReferences", "*OwnerReference"),
        14: ("finalizers", "strings"),
    },
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map"),
        3: ("binaryData", "map-bytes"),
        4: ("immutable", "bool"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map-bytes"),
        3: ("type", "string"),
        4: ("stringData", "map"),
        5: ("immutable", "bool"),
    },
    "Namespace": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "NamespaceSpec"),
        3: ("status", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: ("finalizers", "strings")},
    "NamespaceStatus": {1: ("phase", "string")},
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        2: ("secrets", "*ObjectReference"),
        3: ("imagePullSecrets", "*LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool"),
    },
    "ObjectReference": {
        1: ("kind", "string"),
        2: ("namespace", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("resourceVersion", "string"),
        7: ("fieldPath", "string"),
    },
    "LocalObjectReference": {1: ("name", "string")},
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "*PolicyRule")},
    "PolicyRule": {
        1: ("verbs", "strings"),
        2: ("apiGroups", "strings"),
        3: ("resources", "strings"),
        4: ("resourceNames", "strings"),
        5: ("nonResourceURLs", "strings"),
    },
    "RoleBinding": {1: ("metadata", "ObjectMeta"), 2: ("subjects", "*Subject"), 3: ("roleRef", "RoleRef")},
    "Subject": {
        1: ("kind", "string"),
        2: ("apiGroup", "string"),
        3: ("name", "string"),
        4: ("namespace", "string"),
    },
    "RoleRef": {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")},
    # kubectl create deployment | job | cronjob (and job --from=cronjob/NAME): the workload kinds with
    # the pod template's common fields; a template using others (volumes, probes, affinity, ...)
    # is refused as a whole.
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec"), 3: ("status", "ignored")},
    "DeploymentSpec": {
        1: ("replicas", "int"),
        2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"),
        4: ("strategy", "DeploymentStrategy"),
        5: ("minReadySeconds", "int"),
        6: ("revisionHistoryLimit", "int"),
        7: ("paused", "bool"),
        9: ("progressDeadlineSeconds", "int"),
    },
    "DeploymentStrategy": {1: ("type", "string"), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "intstr"), 2: ("maxSurge", "intstr")},
    "LabelSelector": {1: ("matchLabels", "map"), 2: ("matchExpressions", "*LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "string"), 2: ("operator", "string"), 3: ("values", "strings")},
    "Job": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec"), 3: ("status", "ignored")},
    "JobSpec": {
        1: ("parallelism", "int"),
        2: ("completions", "int"),
        3: ("activeDeadlineSeconds", "int"),
        4: ("selector", "LabelSelector"),
        5: ("manualSelector", "bool"),
        6: ("template", "PodTemplateSpec"),
        7: ("backoffLimit", "int"),
        8: ("ttlSecondsAfterFinished", "int"),
        9: ("completionMode", "string"),
        10: ("suspend", "bool"),
        12: ("backoffLimitPerIndex", "int"),
        13: ("maxFailedIndexes", "int"),
        14: ("podReplacementPolicy", "string"),
    },
    "CronJob": {1: ("metadata", "ObjectMeta"), 2: ("spec", "CronJobSpec"), 3: ("status", "ignored")},
    "CronJobSpec": {
        1: ("schedule", "string"),
        2: ("startingDeadlineSeconds", "int"),
        3: ("concurrencyPolicy", "string"),
        4: ("suspend", "bool"),
        5: ("jobTemplate", "JobTemplateSpec"),
        6: ("successfulJobsHistoryLimit", "int"),
        7: ("failedJobsHistoryLimit", "int"),
        8: ("timeZone", "string"),
    },
    "JobTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {
        2: ("containers", "*Container"),
        20: ("initContainers", "*Container"),
        3: ("restartPolicy", "string"),
        4: ("terminationGracePeriodSeconds", "int"),
        5: ("activeDeadlineSeconds", "int"),
        6: ("dnsPolicy", "string"),
        7: ("nodeSelector", "map"),
        8: ("serviceAccountName", "string"),
        9: ("serviceAccount", "string"),
        21: ("automountServiceAccountToken", "bool"),
        14: ("securityContext", "PodSecurityContext"),
        15: ("imagePullSecrets", "*LocalObjectReference"),
        16: ("hostname", "string"),
        17: ("subdomain", "string"),
        19: ("schedulerName", "string"),
        22: ("tolerations", "*Toleration"),
        24: ("priorityClassName", "string"),
        25: ("priority", "int"),
        30: ("enableServiceLinks", "bool"),
        31: ("preemptionPolicy", "string"),
    },
    "PodSecurityContext": {
        2: ("runAsUser", "int"),
        3: ("runAsNonRoot", "bool"),
        5: ("fsGroup", "int"),
        6: ("runAsGroup", "int"),
    },
    "Toleration": {
        1: ("key", "string"),
        2: ("operator", "string"),
        3: ("value", "string"),
        4: ("effect", "string"),
        5: ("tolerationSeconds", "int"),
    },
    "Container": {
        1: ("name", "string"),
        2: ("image", "string"),
        3: ("command", "strings"),
        4: ("args", "strings"),
        5: ("workingDir", "string"),
        6: ("ports", "*ContainerPort"),
        7: ("env", "*EnvVar"),
        8: ("resources", "ResourceRequirements"),
        13: ("terminationMessagePath", "string"),
        14: ("imagePullPolicy", "string"),
        16: ("stdin", "bool"),
        17: ("stdinOnce", "bool"),
        18: ("tty", "bool"),
        20: ("terminationMessagePolicy", "string"),
    },
    "ContainerPort": {
        1: ("name", "string"),
        2: ("hostPort", "int"),
        3: ("containerPort", "int"),
        4: ("protocol", "string"),
        5: ("hostIP", "string"),
    },
    "EnvVar": {1: ("name", "string"), 2: ("value", "string")},
    "ResourceRequirements": {1: ("limits", "map-quantity"), 2: ("requests", "map-quantity")},
    # kubectl autoscale (autoscaling/v1, converted to v2 as it is stored: ``conversion``)
    "HorizontalPodAutoscaler": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "HorizontalPodAutoscalerSpec"),
        3: ("status", "ignored"),
    },
    "HorizontalPodAutoscalerSpec": {
        1: ("scaleTargetRef", "CrossVersionObjectReference"),
        2: ("minReplicas", "int"),
        3: ("maxReplicas", "int"),
        4: ("targetCPUUtilizationPercentage", "int"),
    },
    "CrossVersionObjectReference": {
        1: ("kind", "string"),
        2: ("name", "string"),
        3: ("apiVersion", "string"),
    },
    # kubectl create service clusterip | nodeport | loadbalancer | externalname
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec"), 3: ("status", "ignored")},
    "ServiceSpec": {
        1: ("ports", "*ServicePort"),
        2: ("selector", "map"),
        3: ("clusterIP", "string"),
        18: ("clusterIPs", "strings"),
        4: ("type", "string"),
        5: ("externalIPs", "strings"),
        7: ("sessionAffinity", "string"),
        8: ("loadBalancerIP", "string"),
        9: ("loadBalancerSourceRanges", "strings"),
        10: ("externalName", "string"),
        11: ("externalTrafficPolicy", "string"),
        12: ("healthCheckNodePort", "int"),
        13: ("publishNotReadyAddresses", "bool"),
        19: ("ipFamilies", "strings"),
        17: ("ipFamilyPolicy", "string"),
        20: ("allocateLoadBalancerNodePorts", "bool"),
        21: ("loadBalancerClass", "string"),
        22: ("internalTrafficPolicy", "string"),
        23: ("trafficDistribution", "string"),
    },
    "ServicePort": {
        1: ("name", "string"),
        2: ("protocol", "string"),
        6: ("appProtocol", "string"),
        3: ("port", "int"),
        4: ("targetPort", "intstr"),
        5: ("nodePort", "int"),
    },
}
# The kinds read (apiVersion, kind) -> message.
KINDS = {
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("v1", "Service"): "Service",
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "HorizontalPodAutoscaler",
}
# Fields that are pointers in Go (sent only when set): a zero or false there means what it says.
_POINTERS = {
    "automountServiceAccountToken",
    "replicas",
    "revisionHistoryLimit",
    "progressDeadlineSeconds",
    "maxUnavailable",
    "maxSurge",
    "parallelism",
    "completions",
    "activeDeadlineSeconds",
    "manualSelector",
    "backoffLimit",
    "ttlSecondsAfterFinished",
    "suspend",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "startingDeadlineSeconds",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
    "terminationGracePeriodSeconds",
    "priority",
    "enableServiceLinks",
    "tolerationSeconds",
    "runAsUser",
    "runAsNonRoot",
    "fsGroup",
    "runAsGroup",
    "allocateLoadBalancerNodePorts",
    "minReplicas",
    "targetCPUUtilizationPercentage",
}


class _Unread(Exception):
    """A field or kind this table does not know, carrying a value."""


def decode(body: bytes) -> Json:
    """The object a protobuf body carries, as JSON; a 415 naming what cannot be read, a 400 when the
    bytes are not protobuf."""
    try:
        type_meta, raw = protowire.kube_object(body)
        api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
        name = KINDS.get((api_version, kind))
        if name is None:
            article = "an" if kind[:1] in ("A", "E", "I", "O", "U") else "a"
            raise _Unread(f"{article} {kind or 'object'} ({api_version or 'no apiVersion'})")
        obj = _message(raw, name)
    except (protowire.WireError, UnicodeDecodeError, ValueError) as error:
        raise errors.bad_request(f"the protobuf body could not be read: {error}") from error
    except _Unread as unread:
        raise errors.KubeError(
            415,
            "UnsupportedMediaType",
            f"{unread} sent as protobuf is not read here: send it as JSON or YAML "
            "(kubectl create ... --dry-run=client -o yaml | kubectl apply -f -)",
        ) from unread
    return {"apiVersion": api_version, "kind": kind, **obj}


def _message(data: bytes, name: str) -> Json:
    schema = MESSAGES[name]
    out: Json = {}
    for number, value in protowire.every_field(data):
        field = schema.get(number)
        if field is None:
            if not _empty(value):
                raise _Unread(f"field {number} of {name}")
            continue
        key, how = field
        if how == "ignored":
            continue  # a status: the API server keeps none of what a create sends
        if how.startswith("*"):
            out.setdefault(key, []).append(_message(_bytes(value), how[1:]))
        elif how == "strings":
            out.setdefault(key, []).append(_bytes(value).decode())
        elif how.startswith("map"):
            entry = dict(protowire.every_field(_bytes(value)))
            entry_value = _bytes(entry.get(2, b""))
            if how == "map-bytes":
                shown = base64.b64encode(entry_value).decode()
            elif how == "map-quantity":  # resource.Quantity: {string = 1}
                shown = _bytes(dict(protowire.every_field(entry_value)).get(1, b"")).decode()
            else:
                shown = entry_value.decode()
            out.setdefault(key, {})[_bytes(entry.get(1, b"")).decode()] = shown
        else:
            scalar = _scalar(value, how)
            kept = scalar is not None if key in _POINTERS else scalar not in ("", 0, False, None, {})
            if kept:
                out[key] = scalar
    return out


def _scalar(value: int | bytes, how: str) -> Any:
    if how == "string":
        return _bytes(value).decode()
    if how == "bytes":
        return base64.b64encode(_bytes(value)).decode()
    if how == "bool":
        return bool(_int(value))
    if how == "int":
        number = _int(value)
        return number - (1 << 64) if number >= 1 << 63 else number
    if how == "intstr":  # IntOrString: {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}
        parts = dict(protowire.every_field(_bytes(value)))
        if parts.get(1, 0):
            return _bytes(parts.get(3, b"")).decode()
        number = _int(parts.get(2, 0))
        return number - (1 << 64) if number >= 1 << 63 else number
    if how == "time":
        seconds = dict(protowire.every_field(_bytes(value))).get(1, 0)
        if not seconds:
            return None
        moment = datetime.fromtimestamp(_int(seconds), tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _message(_bytes(value), how)


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ValueError("a number where a string or message belongs")
    return value


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ValueError("a string or message where a number belongs")
    return value


def _empty(value: int | bytes) -> bool:
    """An unset field as the Go encoder writes one: zero, empty, or a message of such fields."""
    if isinstance(value, int):
        return value == 0
    if not value:
        return True
    try:
        return all(_empty(inner) for _, inner in protowire.every_field(value))
    except protowire.WireError:
        return False
