"""What a replica costs in each member cluster: the price models the federation engine scores by.

- Nodeless clusters (we launch their compute): ``NodelessPricing`` over the node shapes their
  provisioning policy lets the planner launch. Each allowed instance type at its cheapest allowed
  offering in the cluster's region, at the organization's discounted price plus the expected spot
  interruption cost as the planner weighs it; allocatable after the system reserve; one pod per
  node when the policy isolates pods (bin-selection). So ``cheapest`` compares the planner's own
  marginal price.
- Observe clusters (someone else's autoscaler): ``ObservePricing``, per-resource rates of the
  nodes they run. A node whose instance type the catalog knows costs its on-demand price (after
  discount), split ``CPU_SHARE`` / rest between vCPU and memory (GCP N2's per-vCPU and per-GiB
  rates give about 65/35 for a 1:4 shape); on a GPU node what exceeds the host share goes to the
  GPUs. Nodes of unknown types cost the cloud's median rates, and on-prem nodes (cloud label
  ``onprem``) ``ONPREM_RATES``: amortised hardware, power and space, below cloud list prices.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from clusters.pricing import build_azure_catalog, build_gcp_catalog
from clusters.pricing.catalogs import DEFAULT_REGION, list_price_catalog
from engines.federation import NodelessPricing, NodeShape, ObservePricing, Resources
from engines.kube.resources import MILLI_GPU_PER_GPU
from engines.kube.resources import Resources as PlannerResources
from engines.planner import CapacityType, Catalog, Discount, Packing
from engines.planner.table import new_node_allocatable, offering_allowed, type_allowed, unlimited_surcharge
from policies.provisioning_settings import planner_policy

ONPREM_RATES = ObservePricing(cpu_core_hour=0.018, memory_gib_hour=0.0024, gpu_hour=0.55)
CPU_SHARE = 0.65
_DEFAULT_REGIONS = {"aws": DEFAULT_REGION, "gcp": "us-central1", "azure": "eastus"}
_BUILDERS = {"gcp": build_gcp_catalog, "azure": build_azure_catalog}


@dataclass(frozen=True)
class NodeInfo:
    """One node of a member cluster: its type and what pods may use on it."""

    instance_type: str
    cpu_millis: int
    memory_mib: int
    gpus: int
    pods: int
    schedulable: bool = True


@cache
def cloud_catalog(cloud: str, region: str) -> Catalog | None:
    """List-price catalog of a cloud region (its default region when the data lacks it); None for
    on-prem and clouds without reference data."""
    if cloud == "aws":
        return list_price_catalog(region or DEFAULT_REGION)
    builder = _BUILDERS.get(cloud)
    if builder is None:
        return None
    try:
        catalog = builder(region)
    except (ValueError, KeyError, FileNotFoundError):
        catalog = None
    if catalog is None or not catalog.offerings:
        catalog = builder(_DEFAULT_REGIONS[cloud])
    return catalog


@cache
def _on_demand_prices(cloud: str, region: str) -> dict[str, float]:
    catalog = cloud_catalog(cloud, region)
    prices: dict[str, float] = {}
    for offering in catalog.offerings if catalog else ():
        if offering.capacity_type is CapacityType.ON_DEMAND:
            known = prices.get(offering.instance_type)
            prices[offering.instance_type] = min(known, offering.list_price) if known else offering.list_price
    return prices


def _split(
    price: float, cores: float, gib: float, gpus: int, rates: ObservePricing
) -> tuple[float, float, float]:
    """A node's $/hour divided into (CPU, memory, GPU) parts: a GPU node's host share is priced at
    ``rates`` and the GPUs get the rest."""
    if not gpus:
        return price * CPU_SHARE, price * (1 - CPU_SHARE), 0.0
    cpu, memory = cores * rates.cpu_core_hour, gib * rates.memory_gib_hour
    scale = min(1.0, price / (cpu + memory)) if cpu + memory else 0.0
    return cpu * scale, memory * scale, price - (cpu + memory) * scale


@cache
def reference_rates(cloud: str, region: str) -> ObservePricing:
    """Median per-resource list rates of a cloud region's instance types (on-prem: ONPREM_RATES)."""
    catalog = cloud_catalog(cloud, region)
    if catalog is None:
        return ONPREM_RATES
    prices = _on_demand_prices(cloud, region)
    general = [t for t in catalog.instance_types if t.name in prices and not t.gpus]
    if not general:
        return ONPREM_RATES
    core = statistics.median(prices[t.name] * CPU_SHARE / t.vcpu for t in general)
    gib = statistics.median(prices[t.name] * (1 - CPU_SHARE) / (t.memory_mib / 1024) for t in general)
    gpu_rates = [
        max(0.0, prices[t.name] - t.vcpu * core - t.memory_mib / 1024 * gib) / t.gpus
        for t in catalog.instance_types
        if t.gpus and t.name in prices
    ]
    return ObservePricing(core, gib, statistics.median(gpu_rates) if gpu_rates else ONPREM_RATES.gpu_hour)


def observe_pricing(nodes: Sequence[NodeInfo], *, cloud: str, region: str, discount: float) -> ObservePricing:
    """Capacity-weighted rates of the nodes an observe cluster runs (``discount``: on-demand
    multiplier after the organization's negotiated discount)."""
    default = reference_rates(cloud, region)
    prices = _on_demand_prices(cloud, region)
    spent = [0.0, 0.0, 0.0]
    amount = [0.0, 0.0, 0.0]
    for node in nodes:
        cores, gib = node.cpu_millis / 1000, node.memory_mib / 1024
        price = prices.get(node.instance_type)
        if price is None:
            parts = (
                cores * default.cpu_core_hour,
                gib * default.memory_gib_hour,
                node.gpus * default.gpu_hour,
            )
        else:
            parts = _split(price * discount, cores, gib, node.gpus, default)
        for axis, (part, size) in enumerate(zip(parts, (cores, gib, node.gpus), strict=True)):
            spent[axis] += part
            amount[axis] += size
    rates = [
        spent[axis] / amount[axis] if amount[axis] else fallback
        for axis, fallback in enumerate((default.cpu_core_hour, default.memory_gib_hour, default.gpu_hour))
    ]
    return ObservePricing(rates[0], rates[1], rates[2])


def settings_key(settings: Mapping[str, Any]) -> str:
    """A provisioning policy's settings as a hashable cache key."""
    return json.dumps(settings, sort_keys=True, default=str)


@lru_cache(maxsize=256)
def nodeless_pricing(region: str, discount: Discount, provisioning_settings: str) -> NodelessPricing:
    """The shapes the planner may launch in a nodeless cluster (``provisioning_settings``: the
    policy in force, as ``settings_key`` renders it)."""
    policy = planner_policy(json.loads(provisioning_settings))
    catalog = list_price_catalog(region or DEFAULT_REGION).with_discount(discount)
    best: dict[str, float] = {}
    for offering in catalog.offerings:
        if offering_allowed(offering, policy, frozenset()):
            price = offering.price * (1.0 + policy.interruption_weight * offering.interruption_cost_rate)
            best[offering.instance_type] = min(best.get(offering.instance_type, price), price)
    isolate = policy.packing is Packing.ISOLATE
    shapes = []
    for instance_type in catalog.instance_types:
        if instance_type.name not in best or not type_allowed(instance_type, policy.instance_requirements):
            continue
        cpu, memory, milli_gpus, _, pods = new_node_allocatable(instance_type, policy, PlannerResources())
        if cpu <= 0 or memory <= 0 or pods <= 0:
            continue
        allocatable = Resources(cpu, memory, milli_gpus // MILLI_GPU_PER_GPU)
        price = best[instance_type.name] + unlimited_surcharge(instance_type, policy)
        shapes.append(NodeShape(instance_type.name, allocatable, price, 1 if isolate else pods))
    if not shapes:
        raise ValueError(f"the provisioning policy allows no instance type in {region or DEFAULT_REGION}")
    return NodelessPricing(tuple(shapes))
