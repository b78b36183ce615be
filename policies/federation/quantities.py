"""Kubernetes resource quantities and what one pod asks for, in the units the federation engine uses.

Shared by manifest validation (a replica's requests, from the pod template) and by the federation
loop (what the other pods of a member cluster already request).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from kubernetes.utils import parse_quantity

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
MIB = 2**20


class QuantityError(ValueError):
    """Text that is not a Kubernetes quantity."""


@lru_cache(maxsize=4096)
def quantity(text: str) -> Decimal:
    """``"500m"`` → 0.5, ``"2Gi"`` → 2147483648; raises QuantityError for anything else."""
    try:
        value = parse_quantity(text)  # type: ignore[no-untyped-call]
    except (ValueError, InvalidOperation, TypeError):
        raise QuantityError(text) from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise QuantityError(text)
    return value


def quantity_of(value: Any) -> Decimal:
    """A quantity given as YAML text or as a bare number (``cpu: 2``)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(str(value))
    return quantity(str(value))


def millicores(value: Decimal) -> int:
    return math.ceil(value * 1000)


def mebibytes(value: Decimal) -> int:
    return math.ceil(value / MIB)


def _container_requests(container: Mapping[str, Any]) -> tuple[int, int, int]:
    resources = container.get("resources") or {}
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}

    def amount(name: str) -> Decimal:
        # An extended resource or a missing request defaults to its limit, as the API server does.
        raw = requests.get(name, limits.get(name))
        return Decimal(0) if raw is None else quantity_of(raw)

    gpus = sum(amount(name) for name in GPU_RESOURCES)
    return millicores(amount("cpu")), mebibytes(amount("memory")), math.ceil(gpus)


def pod_requests(pod_spec: Mapping[str, Any]) -> tuple[int, int, int]:
    """(millicores, MiB, GPUs) one pod of ``pod_spec`` requests: the sum over its containers, or the
    largest init container if that is more (init containers run one at a time, before the others).
    Raises QuantityError on a malformed quantity."""
    total = [0, 0, 0]
    for container in pod_spec.get("containers") or ():
        for axis, value in enumerate(_container_requests(container)):
            total[axis] += value
    for container in pod_spec.get("initContainers") or ():
        for axis, value in enumerate(_container_requests(container)):
            total[axis] = max(total[axis], value)
    return total[0], total[1], total[2]
