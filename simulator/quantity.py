"""Kubernetes resource quantities (`100m`, `1.5`, `128Mi`, `2G`, `1e3`) and pod resource requests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([numkMGTPE]i?|Ki)?$")

Resources = dict[str, float]


def parse_quantity(value: str | float | int) -> float:
    """A quantity in base units (cores for cpu, bytes for memory)."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise ValueError(f"invalid quantity {value!r}")
    number, suffix = match.group(1), match.group(2) or ""
    if suffix not in _SUFFIXES:
        raise ValueError(f"invalid quantity suffix in {value!r}")
    try:
        return float(Decimal(number) * _SUFFIXES[suffix])
    except InvalidOperation as error:
        raise ValueError(f"invalid quantity {value!r}") from error


def parse_resource_list(resources: Mapping[str, Any] | None) -> Resources:
    return {name: parse_quantity(quantity) for name, quantity in (resources or {}).items()}


def format_cpu(cores: float) -> str:
    millicores = round(cores * 1000)
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def format_memory(num_bytes: float) -> str:
    kibibytes = int(num_bytes // 1024)
    return f"{kibibytes // 1024}Mi" if kibibytes % 1024 == 0 else f"{kibibytes}Ki"


def container_requests(container: Mapping[str, Any]) -> Resources:
    """A container's requests; a resource with only a limit requests its limit (API defaulting)."""
    resources = container.get("resources") or {}
    return parse_resource_list({**(resources.get("limits") or {}), **(resources.get("requests") or {})})


def pod_requests(pod_spec: Mapping[str, Any]) -> Resources:
    """Effective requests of a pod, as the scheduler computes them: the larger of the sum over
    app containers and the largest init container, per resource, plus the pod overhead."""
    total: Resources = {}
    for container in pod_spec.get("containers") or ():
        for name, quantity in container_requests(container).items():
            total[name] = total.get(name, 0.0) + quantity
    for container in pod_spec.get("initContainers") or ():
        for name, quantity in container_requests(container).items():
            total[name] = max(total.get(name, 0.0), quantity)
    for name, quantity in parse_resource_list(pod_spec.get("overhead")).items():
        total[name] = total.get(name, 0.0) + quantity
    return total
