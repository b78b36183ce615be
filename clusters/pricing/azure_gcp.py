"""Azure and GCP catalogs of one region from data/azure and data/gcp.

The data has list prices per region (on-demand and spot) and specs per SKU, but no per-zone
availability and no spot interruption data. So every priced SKU is offered in the region's
usual zones (Azure: `<region>-1..3`, GCP: `<region>-a..c`), and spot offerings carry no
interruption bucket, which the planner prices as the worst bucket. SKUs without specs in the
data are left out. Allocatable follows the AKS and GKE formulas (`engines.planner.reserve`)
with the default 110 pods per node.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from clusters.pricing.csvfiles import ARCHITECTURES, DEFAULT_DATA_DIR, as_int, generation_of, read_rows
from clusters.pricing.gpus import schedulable_gpus
from engines.kube.capacity import CapacityType
from engines.kube.resources import Resources
from engines.planner.catalog import Catalog, Discount, InstanceType, Offering, interruption_cost_rate
from engines.planner.reserve import aks_system_reserve, gke_system_reserve

DEFAULT_MAX_PODS = 110
AKS_OS_DISK_MIB = 128 * 1024
GKE_BOOT_DISK_MIB = 100 * 1024
Reserve = Callable[[int, int, int], Resources]


def _catalog(
    provider: str,
    region: str,
    zones: tuple[str, ...],
    data_dir: Path,
    disk_mib: int,
    reserve: Reserve,
    discount: Discount | None,
) -> Catalog:
    prices: dict[tuple[str, CapacityType], float] = {}
    for row in read_rows(data_dir / provider / "prices.csv"):
        if row["region"] == region:
            prices[(row["instance_type"], CapacityType(row["capacity_type"]))] = float(row["usd_per_hour"])
    types: list[InstanceType] = []
    offerings: list[Offering] = []
    for row in read_rows(data_dir / provider / "instance_types.csv"):
        architecture = ARCHITECTURES.get(row["arch"])
        on_demand = prices.get((row["name"], CapacityType.ON_DEMAND))
        if architecture is None or not row["vcpu"] or on_demand is None:
            continue
        vcpu, memory = as_int(row["vcpu"]), as_int(row["memory_mib"])
        gpus, gpu_model, gpu_memory_mib = schedulable_gpus(row)
        types.append(
            InstanceType(
                name=row["name"],
                family=row["family"],
                architecture=architecture,
                vcpu=vcpu,
                memory_mib=memory,
                max_pods=DEFAULT_MAX_PODS,
                system_reserve=reserve(vcpu, memory, disk_mib),
                ephemeral_mib=disk_mib,
                gpus=gpus,
                gpu_model=gpu_model,
                gpu_memory_mib=gpu_memory_mib,
                current_generation=row["status"] != "INACTIVE",
                generation=generation_of(row["family"]),
            )
        )
        spot = prices.get((row["name"], CapacityType.SPOT))
        for zone in zones:
            offerings.append(Offering(row["name"], zone, CapacityType.ON_DEMAND, on_demand, on_demand))
            if spot is not None:
                offerings.append(
                    Offering(
                        row["name"], zone, CapacityType.SPOT, spot, spot, None, interruption_cost_rate(None)
                    )
                )
    catalog = Catalog(provider, region, zones, tuple(types), tuple(offerings))
    return catalog.with_discount(discount) if discount is not None else catalog


def build_azure_catalog(
    region: str = "eastus", data_dir: Path = DEFAULT_DATA_DIR, *, discount: Discount | None = None
) -> Catalog:
    return _catalog(
        "azure",
        region,
        tuple(f"{region}-{n}" for n in (1, 2, 3)),
        data_dir,
        AKS_OS_DISK_MIB,
        lambda vcpu, _memory, disk: aks_system_reserve(vcpu, DEFAULT_MAX_PODS, disk),
        discount,
    )


def build_gcp_catalog(
    region: str = "us-central1", data_dir: Path = DEFAULT_DATA_DIR, *, discount: Discount | None = None
) -> Catalog:
    return _catalog(
        "gcp",
        region,
        tuple(f"{region}-{z}" for z in "abc"),
        data_dir,
        GKE_BOOT_DISK_MIB,
        gke_system_reserve,
        discount,
    )
