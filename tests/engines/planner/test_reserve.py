"""System reserve formulas against the numbers the clouds publish."""

from __future__ import annotations

import math

from engines.planner.reserve import (
    aks_system_reserve,
    cpu_reserve_millis,
    eks_system_reserve,
    gke_system_reserve,
)


def test_cpu_reserve_follows_the_shared_table():
    # 6 % of the first core, 1 % of the second, 0.5 % of cores 3-4, 0.25 % of the rest.
    assert cpu_reserve_millis(1) == 60
    assert cpu_reserve_millis(2) == 70  # EKS m5.large: 2000m - 70m = 1930m allocatable
    assert cpu_reserve_millis(4) == 80
    assert cpu_reserve_millis(96) == 80 + 92 * 2.5


def test_eks_memory_reserve_grows_with_max_pods():
    small = eks_system_reserve(2, 8192, 29, 20480, vm_memory_overhead=0.0)
    big = eks_system_reserve(2, 8192, 110, 20480, vm_memory_overhead=0.0)
    assert small.memory_mib == 255 + 11 * 29 + 100
    assert big.memory_mib - small.memory_mib == 11 * (110 - 29)


def test_gke_memory_reserve_tiers():
    # 8 GiB: 25 % of 4 GiB + 20 % of 4 GiB = 1.8 GiB, plus the 100 MiB eviction threshold.
    assert gke_system_reserve(2, 8 * 1024, 100 * 1024).memory_mib == math.ceil(1.8 * 1024) + 100
    # Below 1 GiB GKE keeps 255 MiB.
    assert gke_system_reserve(1, 600, 100 * 1024).memory_mib == 255 + 100


def test_aks_memory_reserve_per_pod():
    assert aks_system_reserve(4, 110, 128 * 1024).memory_mib == 20 * 110 + 50 + 100
