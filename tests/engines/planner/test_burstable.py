"""Burstable types: sized by the CPU they sustain, unless the policy opts in to unlimited mode,
which prices the surplus credits of every vCPU above the baseline."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engines.planner import CapacityType, Catalog, InstanceType, Offering, PlannerPolicy, Snapshot, plan
from engines.planner.table import new_node_allocatable, unlimited_surcharge
from tests.engines.planner.planner_builders import RESERVE, ZONES, check_plan, instance, pod

# A t3.large-like type: 2 vCPUs sustaining 30 % each (600m), cheaper than the fixed one.
BURSTABLE = replace(instance("t3.large", 2, 8), baseline_cpu_fraction=0.3, unlimited_usd_per_vcpu_hour=0.05)
FIXED = instance("m5.large", 2, 8)
SURPLUS = 2 * (1 - 0.3) * 0.05


def _catalog(*types: tuple[InstanceType, float]) -> Catalog:
    offerings = tuple(
        Offering(t.name, zone, CapacityType.ON_DEMAND, price, price) for t, price in types for zone in ZONES
    )
    return Catalog(
        provider="aws",
        region="test-1",
        zones=ZONES,
        instance_types=tuple(t for t, _ in types),
        offerings=offerings,
    )


CATALOG = _catalog((BURSTABLE, 0.0832), (FIXED, 0.096))


def _chosen(cpu: int, policy: PlannerPolicy, catalog: Catalog = CATALOG) -> tuple[str, float]:
    snapshot = Snapshot(pods=(pod(cpu=cpu, memory_mib=1024),))
    result = plan(snapshot, policy, catalog)
    check_plan(result, snapshot, policy, catalog)
    assert not result.unschedulable
    (launch,) = result.launches
    return launch.chosen.instance_type, round(launch.chosen.price_per_hour, 6)


def test_a_burstable_node_offers_pods_its_baseline_cpu_less_the_reserve() -> None:
    cpu = new_node_allocatable(BURSTABLE, PlannerPolicy(), RESERVE)[0]

    # The node's reserve and the daemonsets (here of the same size) come out of the baseline.
    assert cpu == 600 - 2 * RESERVE.cpu_millis
    assert new_node_allocatable(FIXED, PlannerPolicy(), RESERVE)[0] == 2000 - 2 * RESERVE.cpu_millis


def test_a_pod_within_the_baseline_goes_on_the_cheaper_burstable_node() -> None:
    assert _chosen(300, PlannerPolicy()) == ("t3.large", 0.0832)


def test_a_pod_above_the_baseline_goes_on_a_fixed_performance_node() -> None:
    assert _chosen(1000, PlannerPolicy()) == ("m5.large", 0.096)


def test_unlimited_mode_sizes_by_every_vcpu_and_prices_the_surplus_credits() -> None:
    policy = PlannerPolicy(burstable_unlimited=True)

    assert new_node_allocatable(BURSTABLE, policy, RESERVE)[0] == 2000 - 2 * RESERVE.cpu_millis
    assert unlimited_surcharge(BURSTABLE, policy) == pytest.approx(SURPLUS)
    # 0.0832 + 0.07 is dearer than the fixed node, so the surcharge decides...
    assert _chosen(1000, policy) == ("m5.large", 0.096)
    # ...and where the burstable node stays cheaper with it, the launch is billed with it.
    cheap = _catalog((BURSTABLE, 0.02), (FIXED, 0.096))
    assert _chosen(1000, policy, cheap) == ("t3.large", round(0.02 + SURPLUS, 6))


def test_a_type_without_unlimited_mode_keeps_its_baseline_when_the_policy_opts_in() -> None:
    no_unlimited = replace(BURSTABLE, unlimited_usd_per_vcpu_hour=None)
    policy = PlannerPolicy(burstable_unlimited=True)

    assert new_node_allocatable(no_unlimited, policy, RESERVE)[0] == 600 - 2 * RESERVE.cpu_millis
    assert unlimited_surcharge(no_unlimited, policy) == 0.0


def test_fixed_performance_types_pay_no_surcharge() -> None:
    assert unlimited_surcharge(FIXED, PlannerPolicy(burstable_unlimited=True)) == 0.0
