"""Submitted manifests: YAML (several documents) or JSON, checked field by field.

A federated workload is exactly one Deployment, StatefulSet, DaemonSet (apps/v1), Job or CronJob
(batch/v1) plus the objects it needs (``COMPANION_KINDS``: ConfigMaps, Secrets, Services,
ServiceAccounts, PVCs, HPAs, Ingresses, Roles and RoleBindings), all in one namespace. Every problem is reported with the path
of the field, e.g. ``spec.template.spec.containers[0].resources.requests.cpu: "2 cores" is not a
Kubernetes quantity``; problems in companion objects are prefixed with ``Kind/name:``.

An autoscaling/v1 HorizontalPodAutoscaler is taken as the autoscaling/v2 one it converts to.

Server-owned fields (status, uid, resourceVersion, managedFields, ...) are dropped, and every
object gets the workload's namespace explicitly, so what is stored is exactly what is applied.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from engines.kube import QuantityError, autoscaling, pod_requests
from engines.kube.labels import JOB_NAME_LABELS, JOB_UID_LABELS
from nodeless_saas.documents import DocumentError, check_value, load_json, load_yaml_documents
from policies.federation.manifest_checks import (
    Problems,
    check_config,
    check_metadata,
    check_service,
    show,
)
from policies.federation.workload_kinds import (
    WORKLOAD_KINDS,
    check_workload,
    pod_template,
    replica_counts,
    template_path,
    with_replicas,
)

__all__ = ["COMPANION_KINDS", "WORKLOAD_KINDS", "ParsedManifest", "parse_manifest", "with_replicas"]

MAX_MANIFEST_BYTES = 1_000_000
# What one pod may request: far beyond any machine, and within what a workload row stores (integer).
MAX_POD_CPU_MILLIS = 100_000_000
MAX_POD_MEMORY_MIB = 1024 * 1024 * 1024
MAX_POD_GPUS = 100_000
COMPANION_KINDS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "PersistentVolumeClaim": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "Ingress": "networking.k8s.io/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
}
SUPPORTED_KINDS = {**WORKLOAD_KINDS, **COMPANION_KINDS}
# Older versions taken too, converted to the one above as kube-apiserver converts them.
_CONVERTED = {("HorizontalPodAutoscaler", autoscaling.V1): autoscaling.to_v2}
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
    "selfLink",
    "ownerReferences",
)
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_REVISION = "deployment.kubernetes.io/revision"

Json = dict[str, Any]


@dataclass(frozen=True)
class ReplicaRequests:
    """What one replica (one pod) requests, by the kernel's one sizing rule (``pod_requests``:
    sidecars, init containers, pod overhead, GPUs of every known vendor)."""

    cpu_millis: int
    memory_mib: int
    gpus: int

    def describe(self) -> str:
        text = f"{self.cpu_millis}m CPU, {self.memory_mib} MiB"
        return f"{text}, {self.gpus} GPU" if self.gpus else text


@dataclass(frozen=True)
class ParsedManifest:
    kind: str
    name: str
    namespace: str
    labels: dict[str, str]
    workload: Json
    companions: tuple[Json, ...]
    replicas: int
    completions: int | None
    requests: ReplicaRequests

    @property
    def companion_summary(self) -> list[dict[str, str]]:
        return [{"kind": obj["kind"], "name": obj["metadata"]["name"]} for obj in self.companions]


def _raise(messages: list[str]) -> None:
    raise ValidationError({"manifest": messages})


def load_documents(source: str | Mapping[str, Any] | Sequence[Any]) -> list[Any]:
    """The objects of a manifest: YAML documents, a JSON object or array, or a ``kind: List``."""
    if isinstance(source, str):
        if not source.strip():
            _raise(["The manifest is empty: paste a Deployment or Job (YAML or JSON)."])
        documents = _parse_text(source)
    elif not isinstance(source, Mapping | list | tuple):
        _raise(["Send the manifest as YAML or JSON text, an object, or a list of objects."])
    else:
        try:  # objects sent in a JSON body: already bounded by the API's parser, checked again here
            check_value(source, what="The manifest")
        except DocumentError as error:
            _raise([str(error)])
        documents = [source] if isinstance(source, Mapping) else list(source)
    flattened: list[Any] = []
    for document in documents:
        if isinstance(document, Mapping) and document.get("kind") == "List":
            items = document.get("items") or []
            if not isinstance(items, list):
                _raise(["kind List: items is not a list of objects."])
            flattened.extend(items)
        elif document is not None:
            flattened.append(document)
    if not flattened:
        _raise(["The manifest holds no objects: paste a Deployment or Job (YAML or JSON)."])
    return flattened


def _parse_text(text: str) -> list[Any]:
    try:
        if text.lstrip()[:1] in ("{", "["):
            parsed = load_json(text, what="The manifest", max_bytes=MAX_MANIFEST_BYTES)
            return parsed if isinstance(parsed, list) else [parsed]
        return load_yaml_documents(text, what="The manifest", max_bytes=MAX_MANIFEST_BYTES)
    except DocumentError as error:
        _raise([str(error)])
    raise AssertionError("unreachable")  # pragma: no cover - _raise always raises


def _identity(obj: Mapping[str, Any]) -> str:
    name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), Mapping) else None
    return f"{obj.get('kind')}/{name or '(unnamed)'}"


def _check_kind(obj: Mapping[str, Any], index: int, problems: Problems) -> bool:
    kind, version = obj.get("kind"), obj.get("apiVersion")
    prefix = f"document {index + 1}: " if index else ""
    if kind not in SUPPORTED_KINDS:
        problems.add(
            prefix,
            "kind",
            f"{show(kind)} is not supported: submit one Deployment, StatefulSet, DaemonSet, Job or CronJob "
            f"plus the objects it needs ({', '.join(COMPANION_KINDS)})",
        )
        return False
    expected = SUPPORTED_KINDS[str(kind)]
    if version != expected and (kind, version) not in _CONVERTED:
        problems.add(prefix, "apiVersion", f"{show(version)} does not serve {kind}; use {expected}")
        return False
    return True


def _converted(obj: Mapping[str, Any], prefix: str, problems: Problems) -> Mapping[str, Any] | None:
    """``obj`` at the version it is stored and sent at (None: it cannot be converted, a problem)."""
    convert = _CONVERTED.get((str(obj.get("kind")), str(obj.get("apiVersion"))))
    if convert is None:
        return obj
    try:
        return convert(obj)
    except autoscaling.ConversionError as error:
        problems.add(prefix, "", str(error))
        return None


def cluster_addresses_removed(obj: Json) -> Json:
    """A Service without the cluster IPs the API server that stored it gave it: each member gives
    its copy its own, and refuses one outside its range or taken there (Karmada drops them too). A
    headless Service keeps ``clusterIP: None``. Other objects as they are."""
    spec = obj.get("spec")
    if obj.get("kind") != "Service" or not isinstance(spec, Mapping) or spec.get("clusterIP") == "None":
        return obj
    return {**obj, "spec": {k: v for k, v in spec.items() if k not in ("clusterIP", "clusterIPs")}}


def generated_selector_removed(obj: Json) -> Json:
    """A Job without the selector and template labels the endpoint generated from its own uid
    (``policies.kubeapi.defaults.with_job_selector``): a member refuses a selector it did not
    generate ("`selector` not auto-generated") and gives its copy its own. Other objects, and a Job
    that picks its own selector, as they are."""
    spec = obj.get("spec")
    if obj.get("kind") != "Job" or not isinstance(spec, Mapping) or spec.get("manualSelector"):
        return obj
    selector = spec.get("selector") or {}
    if set(selector.get("matchLabels") or {}) - {JOB_UID_LABELS[0]} or selector.get("matchExpressions"):
        return obj
    template = dict(spec.get("template") or {})
    metadata = dict(template.get("metadata") or {})
    labels = {
        k: v
        for k, v in (metadata.get("labels") or {}).items()
        if k not in (*JOB_UID_LABELS, *JOB_NAME_LABELS)
    }
    metadata["labels"] = labels
    template["metadata"] = metadata
    trimmed = {k: v for k, v in spec.items() if k != "selector"}
    return {**obj, "spec": {**trimmed, "template": template}}


def _clean(obj: Mapping[str, Any], namespace: str) -> Json:
    cleaned: Json = generated_selector_removed(cluster_addresses_removed(copy.deepcopy(dict(obj))))
    cleaned.pop("status", None)
    metadata = dict(cleaned.get("metadata") or {})
    for field in _SERVER_METADATA:
        metadata.pop(field, None)
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(_LAST_APPLIED, None)
    annotations.pop(_REVISION, None)  # the endpoint's numbering: members number their own
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    metadata["namespace"] = namespace
    cleaned["metadata"] = metadata
    return cleaned


def parse_manifest(source: str | Mapping[str, Any] | Sequence[Any]) -> ParsedManifest:
    """Parse and check a submitted manifest; raises ValidationError({"manifest": [problems]})."""
    documents = load_documents(source)
    problems = Problems()
    objects: list[Mapping[str, Any]] = []
    for index, document in enumerate(documents):
        if not isinstance(document, Mapping):
            problems.add(f"document {index + 1}: ", "", "is not an object")
        elif _check_kind(document, index, problems):
            converted = _converted(document, f"document {index + 1}: " if index else "", problems)
            if converted is not None:
                objects.append(converted)
    workloads = [obj for obj in objects if obj["kind"] in WORKLOAD_KINDS]
    if not workloads and not problems:
        problems.add(
            "",
            "",
            "The manifest has no workload (Deployment, StatefulSet, DaemonSet, Job or CronJob): "
            "Nodeless federates one workload per submission.",
        )
    if len(workloads) > 1:
        found = ", ".join(_identity(obj) for obj in workloads)
        problems.add(
            "", "", f"The manifest holds {len(workloads)} workloads ({found}); submit each separately."
        )
    if problems or len(workloads) != 1:
        _raise(problems.messages)
    workload = workloads[0]
    companions = [obj for obj in objects if obj is not workload]
    check_metadata(workload, "", problems, dns_label=False)
    check_workload(workload, problems)
    for companion in companions:
        prefix = f"{_identity(companion)}: "
        check_metadata(companion, prefix, problems, dns_label=companion["kind"] == "Service")
        if companion["kind"] == "Service":
            check_service(companion, prefix, problems)
        elif companion["kind"] in ("ConfigMap", "Secret"):
            check_config(companion, prefix, problems)
    namespace = _namespace_of(workload)
    seen: set[str] = set()
    for companion in companions:
        identity = _identity(companion)
        if identity in seen:
            problems.add(f"{identity}: ", "", "appears twice in the manifest")
        seen.add(identity)
        own = _namespace_of(companion, default=namespace)
        if own != namespace:
            problems.add(
                f"{identity}: ",
                "metadata.namespace",
                f"{show(own)} differs from the {workload['kind']}'s namespace {show(namespace)}; "
                "all objects must be in one namespace",
            )
    if problems:
        _raise(problems.messages)
    return _parsed(workload, companions, namespace)


def _namespace_of(obj: Mapping[str, Any], default: str = "default") -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    return namespace if isinstance(namespace, str) and namespace else default


def _parsed(
    workload: Mapping[str, Any], companions: list[Mapping[str, Any]], namespace: str
) -> ParsedManifest:
    path = f"{template_path(str(workload['kind']))}.spec"
    try:
        requests = pod_requests(pod_template(workload)["spec"])
    except QuantityError as error:  # the checks above report every bad quantity but the overhead's
        _raise([f"{path}: {error}"])
    cpu, memory, gpus = requests.cpu_millis, requests.memory_mib, requests.gpus
    for amount, limit, what in (
        (cpu, MAX_POD_CPU_MILLIS, f"{MAX_POD_CPU_MILLIS // 1000} CPU cores"),
        (memory, MAX_POD_MEMORY_MIB, f"{MAX_POD_MEMORY_MIB // 1024 // 1024} TiB of memory"),
        (gpus, MAX_POD_GPUS, f"{MAX_POD_GPUS} GPUs"),
    ):
        if amount > limit:
            _raise([f"{path}: each pod requests more than {what}; no machine has that much"])
    if cpu == 0 and memory == 0:
        _raise([f"{path}.containers: the pods request no CPU or memory; request some for each container"])
    kind = str(workload["kind"])
    replicas, completions = replica_counts(workload)
    metadata = workload["metadata"]
    return ParsedManifest(
        kind=kind,
        name=str(metadata["name"]),
        namespace=namespace,
        labels=dict(metadata.get("labels") or {}),
        workload=_clean(workload, namespace),
        companions=tuple(_clean(companion, namespace) for companion in companions),
        replicas=replicas,
        completions=completions,
        requests=ReplicaRequests(cpu, memory, gpus),
    )
