"""Serverless pods (Fargate-like): one pod per micro-VM, billed by its rounded-up shape.

A pod is sized as its CPU request and its memory request plus the platform's fixed memory
overhead (256 MiB on EKS Fargate for kubelet, kube-proxy and containerd), then rounded up to
the cheapest allowed CPU/memory pair that holds both. Serverless pods carry no GPUs and run
no daemonsets; their nodes carry only the platform's labels (architecture, OS, zone, region,
compute type), so selectors on instance type, family or capacity type do not match them.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.kube import labels as wk
from engines.kube.capacity import CapacityType
from engines.kube.resources import CPU, EPHEMERAL, GPU, MEMORY
from engines.planner.catalog import Catalog, ServerlessPricing, ServerlessShape
from engines.planner.constraints import Constraints
from engines.planner.policy import PlannerPolicy

MIB_PER_GIB = 1024


@dataclass(frozen=True, slots=True)
class ServerlessOption:
    pricing: ServerlessPricing
    shape: ServerlessShape
    price: float
    effective: float

    @property
    def name(self) -> str:
        return f"{self.pricing.service}{'-spot' if self.pricing.spot else ''}-{self.shape.label}"


def rounded_shape(
    cpu_millis: int, memory_mib: int, pricing: ServerlessPricing, shapes: tuple[ServerlessShape, ...]
) -> tuple[ServerlessShape, float] | None:
    """The cheapest allowed shape holding the pod plus the platform overhead, with its price."""
    needed_memory = memory_mib + pricing.memory_overhead_mib
    best: tuple[ServerlessShape, float] | None = None
    for shape in shapes:
        if shape.cpu_millis < cpu_millis or shape.memory_mib < needed_memory:
            continue
        price = (
            shape.cpu_millis / 1000 * pricing.usd_per_vcpu_hour
            + shape.memory_mib / MIB_PER_GIB * pricing.usd_per_gib_hour
        )
        if best is None or price < best[1]:
            best = (shape, price)
    return best


class ServerlessPricer:
    """Prices pods on serverless capacity for one catalog, policy and set of zones (memoized)."""

    def __init__(self, catalog: Catalog, policy: PlannerPolicy, zones: frozenset[str]) -> None:
        self._catalog = catalog
        self._policy = policy
        self._zones = sorted(zones or catalog.zones)
        self._enabled = CapacityType.SERVERLESS in policy.capacity_types and bool(catalog.serverless_shapes)
        self._memo: dict[tuple[tuple[int, ...], Constraints], ServerlessOption | None] = {}

    def option(self, vector: tuple[int, ...], constraints: Constraints) -> ServerlessOption | None:
        if not self._enabled or vector[GPU] > 0:
            return None
        key = (vector, constraints)
        if key not in self._memo:
            self._memo[key] = self._cheapest(vector, constraints)
        return self._memo[key]

    def _cheapest(self, vector: tuple[int, ...], constraints: Constraints) -> ServerlessOption | None:
        architectures = self._policy.instance_requirements.architectures
        best: ServerlessOption | None = None
        for pricing in self._catalog.serverless_pricing:
            if architectures and pricing.architecture not in architectures:
                continue
            if pricing.spot and CapacityType.SPOT not in self._policy.capacity_types:
                continue
            if vector[EPHEMERAL] > pricing.max_ephemeral_mib or not self._compatible(pricing, constraints):
                continue
            rounded = rounded_shape(vector[CPU], vector[MEMORY], pricing, self._catalog.serverless_shapes)
            if rounded is None:
                continue
            shape, price = rounded
            extra_storage = max(vector[EPHEMERAL] - pricing.ephemeral_included_mib, 0) / MIB_PER_GIB
            price += extra_storage * pricing.usd_per_extra_ephemeral_gib_hour
            rate = pricing.interruption_cost_rate if pricing.spot else 0.0
            effective = price * (1.0 + self._policy.interruption_weight * rate)
            if best is None or effective < best.effective:
                best = ServerlessOption(pricing, shape, price, effective)
        return best

    def _compatible(self, pricing: ServerlessPricing, constraints: Constraints) -> bool:
        for zone in self._zones:
            labels = {
                wk.ARCH: pricing.architecture,
                wk.OS: "linux",
                wk.ZONE: zone,
                wk.REGION: self._catalog.region,
                wk.COMPUTE_TYPE: pricing.service,
            }
            if constraints.matches_labels(labels):
                return True
        return False
