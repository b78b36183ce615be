"""The in-memory price catalogs built from data/, checked against the raw CSV rows."""

from __future__ import annotations

import csv
import math

import pytest

from clusters.pricing import (
    DEFAULT_DATA_DIR,
    build_aws_catalog,
    build_azure_catalog,
    build_gcp_catalog,
)
from engines.planner import CapacityType, Discount
from engines.planner.catalog import INTERRUPTION_BUCKET_RATE


def _rows(relative: str) -> list[dict[str, str]]:
    with (DEFAULT_DATA_DIR / relative).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_m5_large_matches_the_published_eks_numbers(aws_catalog):
    m5 = {t.name: t for t in aws_catalog.instance_types}["m5.large"]
    assert m5.max_pods == 29  # eni-max-pods.txt
    assert m5.allocatable.cpu_millis == 1930  # EKS m5.large allocatable CPU
    # kube-reserved 255 + 11 x 29 MiB, 100 MiB eviction, 7.5 % of 8 GiB (rounded up, as Karpenter
    # does) kept by the hypervisor.
    assert m5.system_reserve.memory_mib == 255 + 11 * 29 + 100 + math.ceil(8192 * 0.075)


def test_on_demand_and_spot_prices_follow_the_csvs(aws_catalog):
    catalog = aws_catalog
    raw = {r["name"]: r for r in _rows("aws/instance_types.csv")}
    advisor = {r["instance_type"]: r for r in _rows("aws/spot_advisor.csv") if r["region"] == "us-east-1"}
    for offering in catalog.offerings[::97]:
        on_demand = float(raw[offering.instance_type]["od_usd_per_hour_us_east_1"])
        if offering.capacity_type is CapacityType.ON_DEMAND:
            assert offering.list_price == pytest.approx(on_demand)
        else:
            row = advisor[offering.instance_type]
            assert offering.list_price == pytest.approx(on_demand * (1 - int(row["savings_pct"]) / 100))
            assert offering.interruption_bucket == int(row["interruption_bucket"])
            assert offering.interruption_cost_rate == INTERRUPTION_BUCKET_RATE[offering.interruption_bucket]


def test_offerings_are_exactly_the_listed_zones(aws_catalog):
    listed = {
        (r["instance_type"], r["location"])
        for r in _rows("aws/offerings.csv")
        if r["region"] == "us-east-1" and r["location_type"] == "availability-zone"
    }
    built = {(o.instance_type, o.zone) for o in aws_catalog.offerings}
    assert built <= listed
    assert len(built) > 0.9 * len(
        {pair for pair in listed if pair[0] in {t.name for t in aws_catalog.instance_types}}
    )


def test_mac_types_are_left_out(aws_catalog):
    assert not [t for t in aws_catalog.instance_types if t.name.startswith("mac")]


def test_fargate_shapes_and_prices(aws_catalog):
    catalog = aws_catalog
    quarter = sorted(s.memory_mib for s in catalog.serverless_shapes if s.cpu_millis == 250)
    assert quarter == [512, 1024, 2048]
    (fargate,) = catalog.serverless_pricing
    assert fargate.architecture == "amd64" and not fargate.spot
    assert fargate.usd_per_vcpu_hour == pytest.approx(0.04048)
    assert fargate.memory_overhead_mib == 256


def test_builder_discount_applies_to_every_capacity_type():
    discounted = build_aws_catalog(
        "us-east-1", discount=Discount(on_demand_pct=10, spot_pct=5, serverless_pct=20)
    )
    factors = {CapacityType.ON_DEMAND: 0.9, CapacityType.SPOT: 0.95}
    for offering in discounted.offerings[::211]:
        assert offering.price == pytest.approx(offering.list_price * factors[offering.capacity_type])
    assert discounted.serverless_pricing[0].usd_per_vcpu_hour == pytest.approx(0.04048 * 0.8)


def test_azure_and_gcp_catalogs_carry_types_prices_and_spot():
    for catalog, prices in (
        (build_azure_catalog("eastus"), "azure/prices.csv"),
        (build_gcp_catalog(), "gcp/prices.csv"),
    ):
        raw = {
            (r["instance_type"], r["capacity_type"]): float(r["usd_per_hour"])
            for r in _rows(prices)
            if r["region"] == catalog.region
        }
        assert catalog.instance_types and catalog.offerings
        for offering in catalog.offerings[::101]:
            assert offering.list_price == pytest.approx(
                raw[(offering.instance_type, offering.capacity_type.value)]
            )
        assert any(o.capacity_type is CapacityType.SPOT for o in catalog.offerings)
