"""What metering needs from a price catalog (the planner's `Catalog`, priced for the organization).

- the price of a node from its instance type, zone and capacity type (nodes Nodeless did not launch,
  e.g. in observe-mode clusters, are priced from their well-known labels);
- what an on-demand node of the same type would cost (the on-demand-only baseline);
- what a pod alone would cost on the serverless platform (the serverless-only baseline);
- the candidates for a static on-demand pool (the static-pool baseline).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from engines.kube.nodes import Node
from engines.metering.model import Quantities
from engines.metering.pools import CandidateTable, PoolCandidate, pareto_candidates
from engines.planner import CapacityType, Catalog, InstanceType
from engines.planner.serverless import MIB_PER_GIB, rounded_shape

POOL_ARCHITECTURES = frozenset({"amd64", "x86_64"})


def offering_from_labels(labels: Mapping[str, str]) -> tuple[str, str, str]:
    """(instance type, zone, capacity type) a node's labels declare; capacity defaults to on-demand,
    which is what a node group without a capacity label is."""
    node = Node({"metadata": {"labels": labels}})
    return node.instance_type, node.zone, node.capacity_type or CapacityType.ON_DEMAND


_BURSTABLE = re.compile(r"^t\d")  # t2, t3, t3a, t4g: CPU credits, not for sustained load


def _poolable(instance_type: InstanceType) -> bool:
    return (
        instance_type.architecture in POOL_ARCHITECTURES
        and instance_type.current_generation
        and not instance_type.bare_metal
        and not _BURSTABLE.match(instance_type.family)
    )


def _quantities(instance_type: InstanceType, *, allocatable: bool) -> Quantities:
    resources = instance_type.allocatable if allocatable else instance_type.capacity
    return Quantities(resources.cpu_millis / 1000, resources.memory_mib / MIB_PER_GIB, float(resources.gpus))


class CatalogPrices:
    """Lookups over one catalog, built once (the catalog holds thousands of offerings)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._types = {t.name: t for t in catalog.instance_types}
        self._prices: dict[tuple[str, str, str], float] = {}
        self._cheapest: dict[tuple[str, str], float] = {}
        for offering in catalog.offerings:
            capacity_type = offering.capacity_type.value
            self._prices[(offering.instance_type, offering.zone, capacity_type)] = offering.price
            key = (offering.instance_type, capacity_type)
            self._cheapest[key] = min(self._cheapest.get(key, offering.price), offering.price)
        self._serverless_memo: dict[tuple[float, float, float], float | None] = {}
        self._candidates: tuple[PoolCandidate, ...] | None = None
        self._table: CandidateTable | None = None

    def price(self, instance_type: str, zone: str, capacity_type: str) -> float | None:
        """The organization's price of an offering; the cheapest zone's when the zone is unknown."""
        exact = self._prices.get((instance_type, zone, capacity_type))
        return exact if exact is not None else self._cheapest.get((instance_type, capacity_type))

    def on_demand_price(self, instance_type: str, zone: str) -> float | None:
        return self.price(instance_type, zone, CapacityType.ON_DEMAND.value)

    def capacity(self, instance_type: str) -> Quantities | None:
        known = self._types.get(instance_type)
        return None if known is None else _quantities(known, allocatable=False)

    def allocatable(self, instance_type: str) -> Quantities | None:
        known = self._types.get(instance_type)
        return None if known is None else _quantities(known, allocatable=True)

    def serverless_price(self, requests: Quantities, ephemeral_gib: float = 0.0) -> float | None:
        """What the pod alone costs per hour on the platform's cheapest on-demand pricing (its
        request plus the platform overhead, rounded up to an allowed shape); None when no shape
        holds it or it asks for GPUs."""
        key = (requests.cpu, requests.memory_gib, ephemeral_gib)
        if key not in self._serverless_memo:
            self._serverless_memo[key] = self._serverless(requests, ephemeral_gib)
        return self._serverless_memo[key]

    def _serverless(self, requests: Quantities, ephemeral_gib: float) -> float | None:
        if requests.gpus > 0:
            return None
        best: float | None = None
        for pricing in self.catalog.serverless_pricing:
            if pricing.spot or ephemeral_gib * MIB_PER_GIB > pricing.max_ephemeral_mib:
                continue
            rounded = rounded_shape(
                round(requests.cpu * 1000),
                round(requests.memory_gib * MIB_PER_GIB),
                pricing,
                self.catalog.serverless_shapes,
            )
            if rounded is None:
                continue
            extra_gib = max(ephemeral_gib - pricing.ephemeral_included_mib / MIB_PER_GIB, 0.0)
            price = rounded[1] + extra_gib * pricing.usd_per_extra_ephemeral_gib_hour
            best = price if best is None else min(best, price)
        return best

    def pool_candidates(self) -> tuple[PoolCandidate, ...]:
        """On-demand types a team would build a pool from (current-generation x86, not burstable, not
        bare metal) at their cheapest zone's price, dominated ones dropped. The catalog counts only
        NVIDIA GPUs (`clusters.pricing.gpus`): a Gaudi or Radeon type is a (dear) CPU-only candidate."""
        if self._candidates is None:
            candidates = []
            for (name, capacity_type), price in self._cheapest.items():
                known = self._types.get(name)
                if capacity_type != CapacityType.ON_DEMAND or known is None or not _poolable(known):
                    continue
                candidates.append(
                    PoolCandidate(name, price, _quantities(known, allocatable=True), known.allocatable.pods)
                )
            self._candidates = pareto_candidates(candidates)
        return self._candidates

    def pool_table(self) -> CandidateTable:
        if self._table is None:
            self._table = CandidateTable(self.pool_candidates())
        return self._table
