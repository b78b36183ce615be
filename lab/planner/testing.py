"""Synthetic catalogs and pods for tests and benchmarks (pure: randomness only from a seed).

`karpenter_catalog` and `karpenter_pods` reproduce the shape of Karpenter's scheduling
benchmark (kubernetes-sigs/karpenter, scheduling_benchmark_test.go with fake.InstanceTypes):
type i has i+1 vCPU, 2(i+1) GiB and 10(i+1) pods, costs 0.1 $/vCPU + 0.1 $/GiB per hour and is
offered as spot and on-demand at the same price; the fake kubelet keeps 100m CPU and 10 MiB.
Pods draw CPU from {100, 250, 500, 1000, 1500}m and memory from {100, 256, 512, 1024, 2048,
4096} MiB.
"""

from __future__ import annotations

import random

from engines.kube.capacity import CapacityType
from engines.kube.resources import Resources
from engines.planner.catalog import Catalog, InstanceType, Offering, interruption_cost_rate
from engines.planner.types import PodRequest

KARPENTER_CPU_MILLIS = (100, 250, 500, 1000, 1500)
KARPENTER_MEMORY_MIB = (100, 256, 512, 1024, 2048, 4096)
KARPENTER_ZONES = ("test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d")
KARPENTER_KUBE_RESERVED = Resources(cpu_millis=100, memory_mib=10)
# The fake offerings carry no interruption data; price them in the least interrupted bucket.
KARPENTER_SPOT_BUCKET = 0


def karpenter_catalog(type_count: int = 400, zones: tuple[str, ...] = KARPENTER_ZONES) -> Catalog:
    types = []
    offerings = []
    for i in range(type_count):
        size = i + 1
        name = f"fake-it-{i}"
        types.append(
            InstanceType(
                name=name,
                family="fake-it",
                architecture="amd64",
                vcpu=size,
                memory_mib=2 * size * 1024,
                max_pods=10 * size,
                system_reserve=KARPENTER_KUBE_RESERVED,
            )
        )
        price = 0.1 * size + 0.1 * 2 * size
        for zone in zones:
            offerings.append(Offering(name, zone, CapacityType.ON_DEMAND, price, price))
            offerings.append(
                Offering(
                    name,
                    zone,
                    CapacityType.SPOT,
                    price,
                    price,
                    KARPENTER_SPOT_BUCKET,
                    interruption_cost_rate(KARPENTER_SPOT_BUCKET),
                )
            )
    return Catalog("fake", "test-region", zones, tuple(types), tuple(offerings))


def karpenter_pods(count: int, seed: int = 42, prefix: str = "pod") -> tuple[PodRequest, ...]:
    rng = random.Random(seed)
    return tuple(
        PodRequest(
            uid=f"{prefix}-{index:05d}",
            name=f"{prefix}-{index:05d}",
            requests=Resources(
                cpu_millis=rng.choice(KARPENTER_CPU_MILLIS), memory_mib=rng.choice(KARPENTER_MEMORY_MIB)
            ),
        )
        for index in range(count)
    )
