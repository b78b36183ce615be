"""The AWS price catalog of one region, built in memory from data/aws and the Fargate files.

1. Instance types come from aws/instance_types.csv (Mac types are left out: they run only on
   dedicated hosts). Their on-demand price is the region's column there, or the row in
   aws/on_demand_prices.csv; a type without a price in the region is left out.
2. Each type is offered in the availability zones aws/offerings.csv lists for it, on-demand
   at its list price and, where the Spot Instance Advisor covers it, as spot at
   on-demand x (1 - typical savings), with the advisor's interruption bucket.
3. Allocatable follows the EKS formulas (`engines.planner.reserve`); max pods is the VPC CNI
   ENI limit; new nodes get a 20 GiB root volume (Karpenter's default) for ephemeral storage.
4. Fargate: every allowed CPU/memory pair, priced per vCPU-hour and GB-hour for the region's
   rows of serverless_prices.csv. EKS runs Fargate pods on x86_64 only, so that is the default.
5. Burstable (T family) types carry the share of each vCPU they sustain and the unlimited-mode
   surplus price (`clusters.pricing.burstable`), so the planner sizes them honestly.
6. Each type carries the EBS volumes a node of it can attach, as the EBS CSI driver reports them
   (`engines.kube.volumes.ebs_attach_limit` over the type's hypervisor and aws/ebs_volume_limits.csv).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from clusters.pricing.burstable import aws_baseline_cpu_fraction, aws_unlimited_usd_per_vcpu_hour
from clusters.pricing.csvfiles import (
    ARCHITECTURES,
    DEFAULT_DATA_DIR,
    as_float,
    as_int,
    generation_of,
    read_rows,
)
from clusters.pricing.gpus import schedulable_gpus
from engines.kube.capacity import CapacityType
from engines.kube.volumes import ebs_attach_limit
from engines.planner.catalog import (
    Catalog,
    Discount,
    InstanceType,
    Offering,
    ServerlessPricing,
    ServerlessShape,
    interruption_cost_rate,
)
from engines.planner.reserve import DEFAULT_VM_MEMORY_OVERHEAD, eks_system_reserve

ROOT_VOLUME_MIB = 20 * 1024
# Fargate storage beyond the included 20 GB, us-east-1 (data/README.md, "fixed facts").
FARGATE_EXTRA_STORAGE_USD_PER_GB_HOUR = 0.000111
EKS_FARGATE_ARCHITECTURES = frozenset({"amd64"})


def _on_demand_prices(data_dir: Path, region: str) -> dict[str, float]:
    return {
        row["instance_type"]: float(row["usd_per_hour"])
        for row in read_rows(data_dir / "aws" / "on_demand_prices.csv")
        if row["region"] == region
    }


def ebs_attach_limits(data_dir: Path) -> dict[str, int]:
    """By instance type, how many EBS volumes a node of it attaches (types of instance_types.csv)."""
    special = {row["instance_type"]: row for row in read_rows(data_dir / "aws" / "ebs_volume_limits.csv")}
    limits = {}
    for row in read_rows(data_dir / "aws" / "instance_types.csv"):
        extra = special.get(row["name"], {})
        limits[row["name"]] = ebs_attach_limit(
            nitro=row["hypervisor"] != "xen",
            dedicated=as_int(extra.get("dedicated_ebs_attachments") or "0") or None,
            max_ebs=as_int(extra.get("max_ebs_attachments") or "0") or None,
            nvme_instance_stores=as_int(extra.get("nvme_instance_stores") or "0"),
        )
    return limits


def aws_instance_types(
    data_dir: Path,
    region: str,
    vm_memory_overhead: float = DEFAULT_VM_MEMORY_OVERHEAD,
    on_demand_prices: Mapping[str, float] | None = None,
) -> tuple[list[InstanceType], dict[str, float], set[str]]:
    """Types with a price in `region`: (types, on-demand price by name, names that allow spot).
    `on_demand_prices` (the Price List API's, when refreshed) win over the data's."""
    column = "od_usd_per_hour_" + region.replace("-", "_")
    long_prices = {**_on_demand_prices(data_dir, region), **(on_demand_prices or {})}
    types: list[InstanceType] = []
    prices: dict[str, float] = {}
    spot_capable: set[str] = set()
    attach_limits = ebs_attach_limits(data_dir)
    for row in read_rows(data_dir / "aws" / "instance_types.csv"):
        architecture = ARCHITECTURES.get(row["arch"])
        price = long_prices.get(row["name"]) if on_demand_prices else None
        price = price or as_float(row.get(column, "")) or long_prices.get(row["name"])
        if architecture is None or price is None:
            continue
        vcpu, memory, max_pods = as_int(row["vcpu"]), as_int(row["memory_mib"]), as_int(row["max_pods_eni"])
        gpus, gpu_model, gpu_memory_mib = schedulable_gpus(row)
        types.append(
            InstanceType(
                name=row["name"],
                family=row["family"],
                architecture=architecture,
                vcpu=vcpu,
                memory_mib=memory,
                max_pods=max_pods,
                system_reserve=eks_system_reserve(
                    vcpu, memory, max_pods, ROOT_VOLUME_MIB, vm_memory_overhead
                ),
                ephemeral_mib=ROOT_VOLUME_MIB,
                gpus=gpus,
                gpu_model=gpu_model,
                gpu_memory_mib=gpu_memory_mib,
                current_generation=row["current_generation"] == "True",
                generation=generation_of(row["family"]),
                bare_metal=row["bare_metal"] == "True",
                baseline_cpu_fraction=aws_baseline_cpu_fraction(row["name"], row["burstable"] == "True"),
                unlimited_usd_per_vcpu_hour=aws_unlimited_usd_per_vcpu_hour(
                    row["name"], row["burstable"] == "True"
                ),
                ebs_attach_limit=attach_limits.get(row["name"]),
            )
        )
        prices[row["name"]] = price
        if CapacityType.SPOT.aws_value in row["supported_usage_classes"].split(";"):
            spot_capable.add(row["name"])
    return types, prices, spot_capable


def fargate_pricing(data_dir: Path, region: str, architectures: frozenset[str]) -> list[ServerlessPricing]:
    pricing = []
    for row in read_rows(data_dir / "serverless_prices.csv"):
        if row["provider"] != "aws" or row["service"] != "fargate" or row["region"] != region:
            continue
        architecture = ARCHITECTURES.get(row["platform"].removeprefix("linux/"))
        if architecture is None or architecture not in architectures:
            continue
        spot = CapacityType.parse(row["capacity_type"]) is CapacityType.SPOT
        per_vcpu, per_gib = float(row["usd_per_vcpu_hour"]), float(row["usd_per_gb_hour"])
        pricing.append(
            ServerlessPricing(
                service="fargate",
                architecture=architecture,
                spot=spot,
                list_usd_per_vcpu_hour=per_vcpu,
                list_usd_per_gib_hour=per_gib,
                usd_per_vcpu_hour=per_vcpu,
                usd_per_gib_hour=per_gib,
                list_usd_per_extra_ephemeral_gib_hour=FARGATE_EXTRA_STORAGE_USD_PER_GB_HOUR,
                usd_per_extra_ephemeral_gib_hour=FARGATE_EXTRA_STORAGE_USD_PER_GB_HOUR,
                interruption_cost_rate=interruption_cost_rate(None) if spot else 0.0,
            )
        )
    return pricing


def fargate_shapes(data_dir: Path) -> tuple[ServerlessShape, ...]:
    return tuple(
        ServerlessShape(cpu_millis=round(float(row["vcpu"]) * 1000), memory_mib=as_int(row["memory_mib"]))
        for row in read_rows(data_dir / "fargate_shapes.csv")
        if "linux" in row["os_support"].split(";")
    )


def build_aws_catalog(
    region: str = "us-east-1",
    data_dir: Path = DEFAULT_DATA_DIR,
    *,
    discount: Discount | None = None,
    vm_memory_overhead: float = DEFAULT_VM_MEMORY_OVERHEAD,
    fargate_architectures: frozenset[str] = EKS_FARGATE_ARCHITECTURES,
    on_demand_prices: Mapping[str, float] | None = None,
) -> Catalog:
    """The AWS catalog of `region` (see the module docstring), optionally priced with a discount;
    `on_demand_prices` (type -> USD/hour, from the Price List API) replace the data's list prices."""
    types, prices, spot_capable = aws_instance_types(data_dir, region, vm_memory_overhead, on_demand_prices)
    advisor = {
        row["instance_type"]: (as_int(row["savings_pct"]), as_int(row["interruption_bucket"]))
        for row in read_rows(data_dir / "aws" / "spot_advisor.csv")
        if row["region"] == region and row["os"] == "Linux"
    }
    zones_of: dict[str, list[str]] = {}
    for row in read_rows(data_dir / "aws" / "offerings.csv"):
        if row["region"] == region and row["location_type"] == "availability-zone":
            zones_of.setdefault(row["instance_type"], []).append(row["location"])
    offerings: list[Offering] = []
    for instance_type in types:
        name = instance_type.name
        price = prices[name]
        for zone in sorted(zones_of.get(name, ())):
            offerings.append(Offering(name, zone, CapacityType.ON_DEMAND, price, price))
            if name in spot_capable and name in advisor:
                savings, bucket = advisor[name]
                spot_price = price * (1 - savings / 100)
                offerings.append(
                    Offering(
                        name,
                        zone,
                        CapacityType.SPOT,
                        spot_price,
                        spot_price,
                        bucket,
                        interruption_cost_rate(bucket),
                    )
                )
    offered = {o.instance_type for o in offerings}
    catalog = Catalog(
        provider="aws",
        region=region,
        zones=tuple(sorted({o.zone for o in offerings})),
        instance_types=tuple(t for t in types if t.name in offered),
        offerings=tuple(offerings),
        serverless_shapes=fargate_shapes(data_dir),
        serverless_pricing=tuple(fargate_pricing(data_dir, region, fargate_architectures)),
    )
    return catalog.with_discount(discount) if discount is not None else catalog
