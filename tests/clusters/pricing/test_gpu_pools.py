"""GPU pods ask for `nvidia.com/gpu`, which only NVIDIA nodes advertise: the catalogs count only
NVIDIA GPUs, so neither the planner (what Nodeless launches) nor the static-pool baseline puts a
GPU pod on a Habana Gaudi or AMD Radeon node, however cheap its accelerators are."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from clusters.pricing.catalogs import list_price_catalog
from clusters.pricing.csvfiles import DEFAULT_DATA_DIR
from clusters.pricing.gpus import is_nvidia_gpu
from engines.metering import CatalogPrices, PoolDemand, cheapest_pool
from engines.planner import CapacityType, PlannerPolicy, PodRequest, Resources, Snapshot, plan

NVIDIA_MODELS_WITHOUT_A_MAKER = ("A10", "A100-80GB", "H100", "H200", "M60", "T4", "V100-32GB", "RTX Pro 6000")


def _gpu_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for provider in ("aws", "azure", "gcp"):
        path = Path(DEFAULT_DATA_DIR) / provider / "instance_types.csv"
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["gpu_count"] not in ("", "0"):
                    rows.append((provider, row["name"], row["gpu_manufacturer"], row["gpu_model"]))
    return rows


def test_the_maker_column_decides_and_the_model_decides_where_it_is_blank() -> None:
    rows = _gpu_rows()
    named = [row for row in rows if row[2]]
    assert {maker for _, _, maker, _ in named} >= {"NVIDIA", "Habana", "AMD"}
    assert [row for row in named if is_nvidia_gpu(row[2], row[3]) != (row[2] == "NVIDIA")] == []
    blank = {model for _, _, maker, model in rows if not maker and model}
    assert set(NVIDIA_MODELS_WITHOUT_A_MAKER) <= blank  # what the data really leaves unnamed
    assert all(is_nvidia_gpu("", model) for model in NVIDIA_MODELS_WITHOUT_A_MAKER)


@pytest.mark.parametrize("model", ["", "Gaudi HL-205", "Radeon Pro V520", "MI25", "Inferentia2"])
def test_other_accelerators_are_not_nvidia_gpus(model: str) -> None:
    assert not is_nvidia_gpu("", model)


def test_the_catalog_gives_gaudi_and_radeon_types_no_gpus() -> None:
    types = {t.name: t for t in list_price_catalog("us-east-1").instance_types}
    assert types["dl1.24xlarge"].gpus == 0 and types["g4ad.2xlarge"].gpus == 0
    assert types["g4dn.2xlarge"].gpus == 1 and types["g4dn.2xlarge"].gpu_model == "T4"


@pytest.mark.parametrize("gpus", [1, 4])
def test_a_gpu_pod_without_a_model_is_planned_onto_an_nvidia_type(gpus: int) -> None:
    # g4ad (AMD Radeon) is cheaper per GPU than any NVIDIA type: a planner that counted its GPUs
    # would launch a node the pod can never start on.
    catalog = list_price_catalog("us-east-1")
    makers = {row[1]: row[2] for row in _gpu_rows() if row[0] == "aws"}
    pod = PodRequest("u", "trainer", requests=Resources(cpu_millis=4000, memory_mib=16000, gpus=gpus, pods=1))
    for capacity_types in ({CapacityType.ON_DEMAND}, {CapacityType.ON_DEMAND, CapacityType.SPOT}):
        result = plan(Snapshot(pods=(pod,)), PlannerPolicy(capacity_types=frozenset(capacity_types)), catalog)
        (launch,) = result.launches
        assert {makers[offering.instance_type] for offering in launch.offerings} == {"NVIDIA"}


def test_a_static_gpu_pool_is_sized_on_an_nvidia_type() -> None:
    prices = CatalogPrices(list_price_catalog("us-east-1"))
    makers = {row[1]: row[2] for row in _gpu_rows() if row[0] == "aws"}
    demand = PoolDemand(
        cpu=8, memory_gib=32, gpus=4, pods=4, largest_cpu=2, largest_memory_gib=8, largest_gpus=1
    )
    pool = cheapest_pool(demand, prices.pool_table())
    assert pool is not None and makers[pool.instance_type] == "NVIDIA"
    offered = {c.instance_type: c.allocatable.gpus for c in prices.pool_candidates()}
    assert all(makers.get(name) == "NVIDIA" for name, gpus in offered.items() if gpus)
