"""The AWS reference data (`data/aws/*.csv`) the simulated cloud and the simulated nodes agree on.

One `AwsCatalog` is loaded per data directory and shared: instance specs (for node allocatable),
on-demand prices (for the Pricing API stand-in), spot savings (for spot prices) and offerings
(which zones offer which types).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class InstanceTypeSpec:
    name: str
    family: str
    arch: str  # x86_64 or arm64 (as EC2 names it)
    vcpu: int
    memory_mib: int
    gpu_count: int
    gpu_manufacturer: str
    gpu_model: str
    neuron_devices: int
    max_pods: int
    usage_classes: tuple[str, ...]
    current_generation: bool
    # How many EBS volumes the EBS CSI driver's node plugin reports in the node's CSINode.
    ebs_attach_limit: int = 26

    @property
    def kubernetes_arch(self) -> str:
        return "arm64" if self.arch.startswith("arm64") else "amd64"


@dataclass(frozen=True)
class SpotAdvice:
    savings_pct: int
    interruption_bucket: int
    interruption_label: str


@dataclass(frozen=True)
class AwsCatalog:
    instance_types: dict[str, InstanceTypeSpec]
    on_demand_prices: dict[tuple[str, str], float]  # (region, type) -> USD/hour
    spot_advice: dict[tuple[str, str], SpotAdvice]  # (region, type)
    zone_offerings: dict[str, dict[str, frozenset[str]]]  # region -> zone -> types

    def instance_type(self, name: str) -> InstanceTypeSpec:
        spec = self.instance_types.get(name)
        if spec is None:
            raise KeyError(f"unknown instance type {name!r}")
        return spec

    def zones(self, region: str) -> list[str]:
        return sorted(self.zone_offerings.get(region, {}))

    def offered(self, region: str, zone: str, instance_type: str) -> bool:
        return instance_type in self.zone_offerings.get(region, {}).get(zone, frozenset())

    def on_demand_price(self, region: str, instance_type: str) -> float | None:
        return self.on_demand_prices.get((region, instance_type))


def _int(value: str) -> int:
    return int(float(value)) if value else 0


# EC2's attachment slots (https://docs.aws.amazon.com/ebs/latest/userguide/volume_limits.html): a
# Nitro instance shares 28 between EBS volumes, network interfaces and NVMe instance-store disks; a
# Xen instance has 39 for volumes; newer types have a dedicated EBS limit. The driver reports what the
# root volume and, when shared, the interfaces attached at its start (the primary one) leave.
NITRO_SLOTS, XEN_SLOTS = 28, 39


def _ebs_attach_limit(hypervisor: str, limits: dict[str, str]) -> int:
    dedicated = _int(limits.get("dedicated_ebs_attachments", ""))
    cap = _int(limits.get("max_ebs_attachments", ""))
    disks = _int(limits.get("nvme_instance_stores", ""))
    if dedicated:
        slots = dedicated
    elif hypervisor == "xen":
        slots = XEN_SLOTS
    else:
        # Bare metal shares 31 slots (its row's cap); a cap under 28 bounds EBS volumes alone.
        slots = (cap if cap > NITRO_SLOTS else NITRO_SLOTS) - 1 - disks
        if 0 < cap < NITRO_SLOTS:
            slots = min(slots, cap)
    return max(slots - 1, 1)


@functools.cache
def load_catalog(data_dir: Path = DEFAULT_DATA_DIR) -> AwsCatalog:
    aws = data_dir / "aws"
    instance_types: dict[str, InstanceTypeSpec] = {}
    with (aws / "ebs_volume_limits.csv").open(newline="") as handle:
        ebs = {row["instance_type"]: row for row in csv.DictReader(handle)}
    with (aws / "instance_types.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            instance_types[row["name"]] = InstanceTypeSpec(
                name=row["name"],
                family=row["family"],
                arch=row["arch"],
                vcpu=_int(row["vcpu"]),
                memory_mib=_int(row["memory_mib"]),
                gpu_count=_int(row["gpu_count"]),
                gpu_manufacturer=row["gpu_manufacturer"],
                gpu_model=row["gpu_model"],
                neuron_devices=_int(row["neuron_device_count"]),
                max_pods=_int(row["max_pods_eni"]) or 110,
                usage_classes=tuple(c for c in row["supported_usage_classes"].split(";") if c),
                current_generation=row["current_generation"] == "True",
                ebs_attach_limit=_ebs_attach_limit(row["hypervisor"], ebs.get(row["name"], {})),
            )
    prices: dict[tuple[str, str], float] = {}
    with (aws / "on_demand_prices.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["usd_per_hour"]:
                prices[(row["region"], row["instance_type"])] = float(row["usd_per_hour"])
    advice: dict[tuple[str, str], SpotAdvice] = {}
    with (aws / "spot_advisor.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["os"] == "Linux":
                advice[(row["region"], row["instance_type"])] = SpotAdvice(
                    int(row["savings_pct"]), int(row["interruption_bucket"]), row["interruption_label"]
                )
    offerings: dict[str, dict[str, set[str]]] = {}
    with (aws / "offerings.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["location_type"] == "availability-zone":
                offerings.setdefault(row["region"], {}).setdefault(row["location"], set()).add(
                    row["instance_type"]
                )
    zone_offerings = {r: {z: frozenset(t) for z, t in zones.items()} for r, zones in offerings.items()}
    return AwsCatalog(instance_types, prices, advice, zone_offerings)
