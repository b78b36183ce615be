"""Burstable instance types: the CPU they sustain, and what unlimited mode charges above it.

`data/aws/instance_types.csv` flags the T family (`burstable`) but gives no baseline, so the
baselines are copied here from the AWS EC2 User Guide, "Key concepts and definitions for
burstable performance instances" (docs.aws.amazon.com/AWSEC2/latest/UserGuide/
burstable-credits-baseline-concepts.html), table "CPU credits and baseline utilization": the
baseline utilization per vCPU is the CPU credits an instance earns per hour divided by 60 and
by its vCPUs (one credit is one vCPU at 100 % for one minute). T3, T3a and T4g share one table
by size; T2 differs above `large`.

The previous-generation t1.micro bursts too, but the data does not flag it and AWS publishes
no sustained level for it: "a small amount of consistent CPU", with a large ratio between its
burst and its background level (AWS EC2 User Guide, "T1 Micro instances"). It is given no
baseline CPU, so it never takes a pod that requests CPU, and it has no unlimited mode.

Unlimited mode bills surplus credits at USD 0.05 per vCPU-hour for Linux in every commercial
region (AWS EC2 On-Demand pricing page, "T2/T3/T4g Unlimited Mode Pricing"; the AWS EC2 User
Guide, "Unlimited mode concepts for burstable performance instances").
"""

from __future__ import annotations

from collections.abc import Mapping

UNLIMITED_USD_PER_VCPU_HOUR = 0.05

# Baseline utilization per vCPU by size (credits earned per hour / 60 / vCPUs).
_T3_BASELINE: Mapping[str, float] = {
    "nano": 0.05,  # 6 credits/hour, 2 vCPUs
    "micro": 0.10,  # 12, 2
    "small": 0.20,  # 24, 2
    "medium": 0.20,  # 24, 2
    "large": 0.30,  # 36, 2
    "xlarge": 0.40,  # 96, 4
    "2xlarge": 0.40,  # 192, 8
}
_BASELINE_BY_FAMILY: Mapping[str, Mapping[str, float]] = {
    "t3": _T3_BASELINE,
    "t3a": _T3_BASELINE,
    "t4g": _T3_BASELINE,
    "t2": {
        "nano": 0.05,  # 3 credits/hour, 1 vCPU
        "micro": 0.10,  # 6, 1
        "small": 0.20,  # 12, 1
        "medium": 0.20,  # 24, 2
        "large": 0.30,  # 36, 2
        "xlarge": 0.225,  # 54, 4
        "2xlarge": 0.17,  # 81.6, 8
    },
}


# Families that burst without the data's `burstable` flag, and no unlimited mode (see above).
_UNDOCUMENTED_BASELINE_FAMILIES = frozenset({"t1"})


def aws_baseline_cpu_fraction(instance_type: str, burstable: bool) -> float:
    """The share of each vCPU an AWS type sustains: 1.0 for fixed-performance types.

    A type the data flags burstable but this table does not know is refused loudly rather than
    priced as if its vCPUs were full-time."""
    family, _, size = instance_type.partition(".")
    if family in _UNDOCUMENTED_BASELINE_FAMILIES:
        return 0.0
    if not burstable:
        return 1.0
    baseline = _BASELINE_BY_FAMILY.get(family, {}).get(size)
    if baseline is None:
        raise ValueError(f"no baseline CPU is known for the burstable type {instance_type}")
    return baseline


def aws_unlimited_usd_per_vcpu_hour(instance_type: str, burstable: bool) -> float | None:
    """What unlimited mode charges per vCPU-hour above the baseline; None without unlimited mode."""
    return (
        UNLIMITED_USD_PER_VCPU_HOUR
        if burstable and aws_baseline_cpu_fraction(instance_type, burstable) > 0
        else None
    )
