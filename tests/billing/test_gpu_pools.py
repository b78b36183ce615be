"""The static-pool baseline sizes GPU pods on NVIDIA GPU types only: `nvidia.com/gpu` pods cannot run
on Habana Gaudi or AMD Radeon nodes, however cheap their accelerators are."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from billing.metering import CatalogPrices, PoolDemand, cheapest_pool
from billing.pricing.csvfiles import DEFAULT_DATA_DIR
from workers.planner import CapacityType, Catalog, InstanceType, Offering, Resources

RESERVE = Resources(cpu_millis=100, memory_mib=1024)


def _catalog(*types: tuple[InstanceType, float]) -> Catalog:
    return Catalog(
        provider="aws",
        region="test-1",
        zones=("test-1a",),
        instance_types=tuple(t for t, _ in types),
        offerings=tuple(Offering(t.name, "test-1a", CapacityType.ON_DEMAND, p, p) for t, p in types),
        serverless_shapes=(),
        serverless_pricing=(),
    )


# Per GPU, the Gaudi type is the cheapest by far: only the GPU's maker rules it out.
GAUDI = InstanceType(
    "dl1.24xlarge", "dl1", "amd64", 96, 786432, 737, RESERVE, gpus=8, gpu_model="Gaudi HL-205"
)
RADEON = InstanceType(
    "g4ad.xlarge", "g4ad", "amd64", 4, 16384, 8, RESERVE, gpus=1, gpu_model="Radeon Pro V520"
)
V100 = InstanceType("p3.2xlarge", "p3", "amd64", 8, 62464, 58, RESERVE, gpus=1, gpu_model="V100")


def test_a_gpu_pool_is_sized_on_nvidia_types_only() -> None:
    prices = CatalogPrices(_catalog((GAUDI, 1.0), (RADEON, 0.10), (V100, 3.06)))
    gpu_demand = PoolDemand(
        cpu=4, memory_gib=16, gpus=2, pods=2, largest_cpu=2, largest_memory_gib=8, largest_gpus=1
    )
    pool = cheapest_pool(gpu_demand, prices.pool_table())
    assert pool is not None
    assert (pool.instance_type, pool.nodes) == ("p3.2xlarge", 2)
    offered = {c.instance_type: c.allocatable.gpus for c in prices.pool_candidates()}
    assert offered.get("dl1.24xlarge", 0) == 0 and offered.get("g4ad.xlarge", 0) == 0


def _gpu_rows() -> list[tuple[str, str, str]]:
    rows = []
    for provider in ("aws", "azure", "gcp"):
        path = Path(DEFAULT_DATA_DIR) / provider / "instance_types.csv"
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["gpu_count"] not in ("", "0") and row["gpu_manufacturer"]:
                    rows.append((row["name"], row["gpu_manufacturer"], row["gpu_model"]))
    return rows


def test_the_model_name_tells_nvidia_gpus_apart_as_the_catalogs_maker_column_does() -> None:
    from billing.metering.prices import is_nvidia_gpu

    rows = _gpu_rows()
    assert {maker for _, maker, _ in rows} >= {"NVIDIA", "Habana", "AMD"}
    wrong = [
        (name, maker, model) for name, maker, model in rows if is_nvidia_gpu(model) != (maker == "NVIDIA")
    ]
    assert wrong == []


@pytest.mark.parametrize("model", ["", "Gaudi HL-205", "Radeon Pro V520", "MI25", "Inferentia2"])
def test_other_accelerators_are_not_nvidia_gpus(model: str) -> None:
    from billing.metering.prices import is_nvidia_gpu

    assert not is_nvidia_gpu(model)
