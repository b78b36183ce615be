"""Nodes as the scheduler sees them: a typed, read-only view of a node's JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engines.kube.capacity import CapacityType
from engines.kube.labels import INSTANCE_TYPE, LABEL_ALIASES, ZONE, Taint, TaintEffect
from engines.kube.objects import ObjectView
from engines.kube.pods import resources_of
from engines.kube.quantity import QuantityError, whole
from engines.kube.resources import Resources

Json = Mapping[str, Any]
AWS_PROVIDER_PREFIX = "aws://"
_ALIASES_OF = {canonical: alias for alias, canonical in LABEL_ALIASES.items()}


def taint_of(raw: Json) -> Taint:
    return Taint(
        key=str(raw.get("key", "")),
        value=str(raw.get("value") or ""),
        effect=TaintEffect(raw.get("effect") or "NoSchedule"),
    )


class Node(ObjectView):
    """A read-only view of one node's JSON."""

    __slots__ = ("_allocatable",)

    def __init__(self, raw: Json) -> None:
        super().__init__(raw)
        self._allocatable: Resources | None = None

    def __repr__(self) -> str:
        return f"Node({self.name})"

    def label(self, key: str) -> str:
        """A well-known label, under its current key or its older alias; "" when absent."""
        return str(self.labels.get(key) or self.labels.get(_ALIASES_OF.get(key, key)) or "")

    @property
    def raw_taints(self) -> Sequence[Json]:
        return self.spec.get("taints") or ()

    @property
    def taints(self) -> tuple[Taint, ...]:
        return tuple(taint_of(raw) for raw in self.raw_taints)

    def has_taint(self, key: str) -> bool:
        return any(raw.get("key") == key for raw in self.raw_taints)

    @property
    def unschedulable(self) -> bool:
        return bool(self.spec.get("unschedulable"))

    @property
    def ready(self) -> bool:
        return any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in self.status.get("conditions") or ()
        )

    @property
    def allocatable(self) -> Resources:
        """What pods may request on the node, pod slots included (computed once); a node whose
        allocatable cannot be read offers nothing."""
        if self._allocatable is None:
            values = self.status.get("allocatable") or {}
            try:
                self._allocatable = resources_of(values) + Resources(pods=whole(values.get("pods", 0)))
            except QuantityError:
                self._allocatable = Resources()
        return self._allocatable

    @property
    def capacity(self) -> Resources:
        values = self.status.get("capacity") or {}
        try:
            return resources_of(values) + Resources(pods=whole(values.get("pods", 0)))
        except QuantityError:
            return Resources()

    @property
    def provider_id(self) -> str:
        return str(self.spec.get("providerID") or "")

    @property
    def instance_id(self) -> str:
        """The EC2 instance behind the node (`aws:///us-east-1a/i-0abc`), "" for any other node."""
        if not self.provider_id.startswith(AWS_PROVIDER_PREFIX):
            return ""
        return self.provider_id.rsplit("/", 1)[-1]

    @property
    def instance_type(self) -> str:
        return self.label(INSTANCE_TYPE)

    @property
    def zone(self) -> str:
        return self.label(ZONE)

    @property
    def capacity_type(self) -> CapacityType | None:
        return CapacityType.of_node(self.labels)
