"""What the kubelet and the OS keep on a node: kube-reserved, eviction thresholds, VM overhead.

EKS - the formulas of the EKS-optimized AMIs and Karpenter's AWS provider:

- CPU: 6 % of the first core, 1 % of the second, 0.5 % of the third and fourth, 0.25 % of
  every further core;
- memory: 255 MiB + 11 MiB per pod the node may run, plus the 100 MiB hard-eviction
  threshold, plus the share of the advertised memory the hypervisor keeps (Karpenter's
  `vmMemoryOverheadPercent`, 7.5 % by default);
- ephemeral storage: 1 GiB kube-reserved plus the 10 % nodefs hard-eviction threshold.

GKE - the same CPU table; memory 25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next
8, 6 % of the next 112 and 2 % above 128 GiB (255 MiB below 1 GiB), plus the 100 MiB eviction
threshold. AKS (Kubernetes 1.29+) - the same CPU table; memory 20 MiB per pod plus 50 MiB,
plus the 100 MiB eviction threshold. Ephemeral storage as on EKS for both.
"""

from __future__ import annotations

import math

from engines.kube.resources import Resources

EVICTION_MEMORY_MIB = 100
KUBE_RESERVED_EPHEMERAL_MIB = 1024
EVICTION_NODEFS_FRACTION = 0.10
DEFAULT_VM_MEMORY_OVERHEAD = 0.075


def cpu_reserve_millis(vcpu: int) -> int:
    """The CPU table EKS, GKE and AKS share."""
    millis = 0.0
    for core in range(vcpu):
        millis += 60 if core == 0 else 10 if core == 1 else 5 if core < 4 else 2.5
    return math.ceil(millis)


def eks_memory_reserve_mib(max_pods: int) -> int:
    return 255 + 11 * max_pods


def eks_system_reserve(
    vcpu: int,
    memory_mib: int,
    max_pods: int,
    ephemeral_mib: int,
    vm_memory_overhead: float = DEFAULT_VM_MEMORY_OVERHEAD,
) -> Resources:
    """The part of a node's capacity pods can never use on EKS (see the module docstring)."""
    return Resources(
        cpu_millis=cpu_reserve_millis(vcpu),
        memory_mib=eks_memory_reserve_mib(max_pods)
        + EVICTION_MEMORY_MIB
        + math.ceil(memory_mib * vm_memory_overhead),
        ephemeral_mib=ephemeral_reserve_mib(ephemeral_mib),
    )


def ephemeral_reserve_mib(ephemeral_mib: int) -> int:
    return KUBE_RESERVED_EPHEMERAL_MIB + math.ceil(ephemeral_mib * EVICTION_NODEFS_FRACTION)


_GKE_MEMORY_TIERS_GIB = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06))
_GKE_MEMORY_ABOVE = 0.02


def gke_system_reserve(vcpu: int, memory_mib: int, ephemeral_mib: int) -> Resources:
    if memory_mib < 1024:
        memory = 255.0
    else:
        memory, left = 0.0, memory_mib / 1024
        for size, share in _GKE_MEMORY_TIERS_GIB:
            memory += min(left, size) * share * 1024
            left = max(left - size, 0.0)
        memory += left * _GKE_MEMORY_ABOVE * 1024
    return Resources(
        cpu_millis=cpu_reserve_millis(vcpu),
        memory_mib=math.ceil(memory) + EVICTION_MEMORY_MIB,
        ephemeral_mib=ephemeral_reserve_mib(ephemeral_mib),
    )


def aks_system_reserve(vcpu: int, max_pods: int, ephemeral_mib: int) -> Resources:
    return Resources(
        cpu_millis=cpu_reserve_millis(vcpu),
        memory_mib=20 * max_pods + 50 + EVICTION_MEMORY_MIB,
        ephemeral_mib=ephemeral_reserve_mib(ephemeral_mib),
    )
