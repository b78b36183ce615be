"""Field-level checks of the objects a federated workload may carry, each problem reported with the
path of the offending field (``spec.template.spec.containers[0].resources.requests.cpu: ...``)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeGuard

from django.core.exceptions import ValidationError

from clusters.labels import clean_labels
from engines.kube import GPU_RESOURCES, QuantityError, parse_quantity
from nodeless_saas.documents import describe

MAX_REPLICAS = 10_000
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


class Problems:
    """Collects every problem of a manifest, so one submission reports them all."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, prefix: str, path: str, message: str) -> None:
        self.messages.append(f"{prefix}{path}: {message}" if path else f"{prefix}{message}")

    def __bool__(self) -> bool:
        return bool(self.messages)


def show(value: Any) -> str:
    """A value as it appears in a message: strings quoted like the manifest would quote them, long
    ones cut, structures named rather than repeated (a message never grows with the input)."""
    return describe(value)


def _mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping)


def _integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_metadata(obj: Mapping[str, Any], prefix: str, problems: Problems, *, dns_label: bool) -> None:
    metadata = obj.get("metadata")
    if not _mapping(metadata):
        problems.add(prefix, "metadata", "is required, with at least a name")
        return
    name = metadata.get("name")
    rule, limit, words = (
        (DNS_LABEL, 63, "a DNS label") if dns_label else (DNS_SUBDOMAIN, 253, "a DNS subdomain")
    )
    if not isinstance(name, str) or not name:
        problems.add(prefix, "metadata.name", "is required")
    elif len(name) > limit or not rule.match(name):
        problems.add(
            prefix,
            "metadata.name",
            f"{show(name)} must be {words}: lowercase letters, digits and '-', at most {limit} characters",
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not DNS_LABEL.match(namespace)):
        problems.add(prefix, "metadata.namespace", f"{show(namespace)} is not a valid namespace name")
    for field in ("labels", "annotations"):
        value = metadata.get(field)
        if value is None:
            continue
        if not _mapping(value) or not all(isinstance(v, str) for v in value.values()):
            problems.add(prefix, f"metadata.{field}", "must map names to string values")
        elif field == "labels":
            try:
                clean_labels(dict(value))
            except ValidationError as error:
                problems.add(prefix, "metadata.labels", " ".join(error.messages))


def check_replicas(value: Any, path: str, prefix: str, problems: Problems, *, minimum: int) -> None:
    if value is None:
        return
    if not _integer(value) or not minimum <= value <= MAX_REPLICAS:
        problems.add(prefix, path, f"{show(value)} must be a whole number from {minimum} to {MAX_REPLICAS}")


def _quantities(values: Any, path: str, prefix: str, problems: Problems) -> dict[str, Decimal] | None:
    if values is None:
        return {}
    if not _mapping(values):
        problems.add(prefix, path, "must map resource names to quantities, e.g. {cpu: 500m, memory: 256Mi}")
        return None
    parsed: dict[str, Decimal] = {}
    for name, raw in values.items():
        try:
            amount = parse_quantity(raw)
        except QuantityError:
            problems.add(
                prefix, f"{path}.{name}", f"{show(raw)} is not a Kubernetes quantity (e.g. 500m, 2, 1Gi)"
            )
            continue
        if amount < 0:
            problems.add(prefix, f"{path}.{name}", f"{show(raw)} cannot be negative")
        elif name in GPU_RESOURCES and amount != amount.to_integral_value():
            problems.add(prefix, f"{path}.{name}", f"{show(raw)}: GPUs are requested in whole devices")
        else:
            parsed[str(name)] = amount
    return parsed


def _check_container(
    container: Any, path: str, prefix: str, problems: Problems, *, requests_required: bool
) -> str | None:
    if not _mapping(container):
        problems.add(prefix, path, "must be an object with a name, an image and resources")
        return None
    name = container.get("name")
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        problems.add(prefix, f"{path}.name", f"{show(name)} must be a DNS label (lowercase, digits, '-')")
    image = container.get("image")
    if not isinstance(image, str) or not image.strip():
        problems.add(prefix, f"{path}.image", "is required")
    resources = container.get("resources") or {}
    if not _mapping(resources):
        problems.add(prefix, f"{path}.resources", "must be an object with requests and limits")
        return name if isinstance(name, str) else None
    requests = _quantities(resources.get("requests"), f"{path}.resources.requests", prefix, problems)
    limits = _quantities(resources.get("limits"), f"{path}.resources.limits", prefix, problems)
    if requests is not None and requests_required:
        missing = [
            resource for resource in ("cpu", "memory") if resource not in (resources.get("requests") or {})
        ]
        if missing:
            problems.add(
                prefix,
                f"{path}.resources.requests",
                f"every container must request {' and '.join(missing)}: Nodeless places replicas where "
                "their requests fit (e.g. requests: {cpu: 250m, memory: 256Mi})",
            )
    if requests and limits:
        for resource, limit in limits.items():
            if resource in requests and limit < requests[resource]:
                problems.add(
                    prefix,
                    f"{path}.resources.limits.{resource}",
                    f"{limit.normalize()} is below requests.{resource} ({requests[resource].normalize()})",
                )
    return name if isinstance(name, str) else None


def check_pod_spec(
    spec: Any, path: str, prefix: str, problems: Problems, *, restart_policies: tuple[str, ...]
) -> None:
    if not _mapping(spec):
        problems.add(prefix, path, "is required: the pod template's spec with its containers")
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        problems.add(prefix, f"{path}.containers", "needs at least one container")
        containers = []
    names: list[str | None] = [
        _check_container(container, f"{path}.containers[{index}]", prefix, problems, requests_required=True)
        for index, container in enumerate(containers)
    ]
    init = spec.get("initContainers") or []
    if not isinstance(init, list):
        problems.add(prefix, f"{path}.initContainers", "must be a list of containers")
        init = []
    names += [
        _check_container(
            container, f"{path}.initContainers[{index}]", prefix, problems, requests_required=False
        )
        for index, container in enumerate(init)
    ]
    seen = [name for name in names if name]
    for name in sorted({name for name in seen if seen.count(name) > 1}):
        problems.add(prefix, f"{path}.containers", f"container name {show(name)} is used twice")
    restart = spec.get("restartPolicy", restart_policies[0])
    if restart not in restart_policies:
        problems.add(
            prefix, f"{path}.restartPolicy", f"{show(restart)} must be one of {', '.join(restart_policies)}"
        )
    if spec.get("nodeName"):
        problems.add(
            prefix,
            f"{path}.nodeName",
            "pins pods to a node of one cluster; remove it and let each cluster schedule",
        )


def check_labels_selected(spec: Mapping[str, Any], prefix: str, problems: Problems) -> None:
    """A Deployment's selector must select its own pod template (apps/v1 requires a selector)."""
    selector = spec.get("selector")
    match = selector.get("matchLabels") if _mapping(selector) else None
    if not _mapping(match) or not match:
        if not (_mapping(selector) and selector.get("matchExpressions")):
            problems.add(prefix, "spec.selector.matchLabels", "is required, e.g. {app: web}")
        return
    template = spec.get("template") or {}
    labels = ((template.get("metadata") or {}).get("labels") or {}) if _mapping(template) else {}
    if not _mapping(labels) or any(labels.get(key) != value for key, value in match.items()):
        problems.add(
            prefix,
            "spec.selector.matchLabels",
            "does not match spec.template.metadata.labels: the Deployment would not own its own pods",
        )


def check_service(obj: Mapping[str, Any], prefix: str, problems: Problems) -> None:
    spec = obj.get("spec") or {}
    if not _mapping(spec):
        problems.add(prefix, "spec", "must be an object")
        return
    kind = spec.get("type", "ClusterIP")
    if kind not in SERVICE_TYPES:
        problems.add(prefix, "spec.type", f"{show(kind)} must be one of {', '.join(SERVICE_TYPES)}")
    ports = spec.get("ports") or []
    if not isinstance(ports, list):
        problems.add(prefix, "spec.ports", "must be a list")
        return
    for index, port in enumerate(ports):
        number = port.get("port") if _mapping(port) else None
        if not _integer(number) or not 1 <= number <= 65535:
            problems.add(
                prefix, f"spec.ports[{index}].port", f"{show(number)} must be a port number (1-65535)"
            )


def check_config(obj: Mapping[str, Any], prefix: str, problems: Problems) -> None:
    """ConfigMaps and Secrets: string values, and base64 where the API expects it."""
    base64_fields = ("data",) if obj.get("kind") == "Secret" else ("binaryData",)
    for field in ("data", "binaryData", "stringData"):
        values = obj.get(field)
        if values is None:
            continue
        if not _mapping(values) or not all(isinstance(value, str) for value in values.values()):
            problems.add(prefix, field, "must map keys to string values")
            continue
        if field in base64_fields:
            for key, value in values.items():
                try:
                    base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    problems.add(
                        prefix, f"{field}.{key}", "is not base64; put plain text under stringData instead"
                    )
