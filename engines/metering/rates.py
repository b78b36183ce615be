"""Splitting a node's hourly price into per-resource rates (OpenCost's cost model).

Clouds sell a node at one price, but pods request CPU, memory and GPUs in different mixes, so the
price is split in the proportions of a default price sheet (OpenCost `costmodel.go`):

1. ram_multiple = gpus × gpu_to_ram + cores × cpu_to_ram + GiB of memory, where the ratios are the
   sheet's per-unit prices divided by its GiB-hour price;
2. the GiB-hour rate is price / ram_multiple;
3. the core-hour and GPU-hour rates are that rate times their ratios.

So `cores × cpu_rate + GiB × memory_rate + gpus × gpu_rate` equals the node's price exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.metering.model import Quantities

# OpenCost's default price sheet (USD per hour): a core, a GiB of memory, a GPU.
DEFAULT_CPU_HOUR = 0.031611
DEFAULT_GIB_HOUR = 0.004237
DEFAULT_GPU_HOUR = 0.95

CPU_TO_RAM = DEFAULT_CPU_HOUR / DEFAULT_GIB_HOUR
GPU_TO_RAM = DEFAULT_GPU_HOUR / DEFAULT_GIB_HOUR


@dataclass(frozen=True, slots=True)
class ResourceRates:
    """USD per core-hour, per GiB-hour and per GPU-hour on one node."""

    cpu: float = 0.0
    memory_gib: float = 0.0
    gpu: float = 0.0

    def hourly_cost(self, quantities: Quantities) -> float:
        return (
            quantities.cpu * self.cpu + quantities.memory_gib * self.memory_gib + quantities.gpus * self.gpu
        )


def split_node_price(price_per_hour: float, capacity: Quantities) -> ResourceRates:
    """Per-resource rates that add up to `price_per_hour` over `capacity` (see the module doc)."""
    ram_multiple = capacity.gpus * GPU_TO_RAM + capacity.cpu * CPU_TO_RAM + capacity.memory_gib
    if price_per_hour <= 0 or ram_multiple <= 0:
        return ResourceRates()
    memory_rate = price_per_hour / ram_multiple
    return ResourceRates(cpu=memory_rate * CPU_TO_RAM, memory_gib=memory_rate, gpu=memory_rate * GPU_TO_RAM)
