"""The AWS catalog carries each burstable type's baseline CPU and unlimited-mode price, from the
table in clusters/pricing/burstable.py (the data flags burstable types but gives no baseline)."""

from __future__ import annotations

import pytest

from clusters.pricing.burstable import UNLIMITED_USD_PER_VCPU_HOUR, aws_baseline_cpu_fraction
from engines.planner import Catalog


@pytest.mark.parametrize(
    ("name", "baseline"),
    [
        ("t3.micro", 0.10),
        ("t3.large", 0.30),
        ("t3.2xlarge", 0.40),
        ("t3a.nano", 0.05),
        ("t4g.xlarge", 0.40),
        ("t2.xlarge", 0.225),
        ("t2.2xlarge", 0.17),
    ],
)
def test_burstable_types_carry_their_baseline_and_unlimited_price(
    aws_catalog: Catalog, name: str, baseline: float
) -> None:
    types = {t.name: t for t in aws_catalog.instance_types}

    assert types[name].burstable
    assert types[name].baseline_cpu_fraction == baseline
    assert types[name].unlimited_usd_per_vcpu_hour == UNLIMITED_USD_PER_VCPU_HOUR


def test_every_burstable_type_of_the_data_is_known(aws_catalog: Catalog) -> None:
    burstable = {t.family for t in aws_catalog.instance_types if t.burstable}

    assert burstable == {"t1", "t2", "t3", "t3a", "t4g"}


def test_fixed_performance_types_sustain_every_vcpu(aws_catalog: Catalog) -> None:
    types = {t.name: t for t in aws_catalog.instance_types}

    assert types["m5.large"].baseline_cpu_fraction == 1.0
    assert types["m5.large"].unlimited_usd_per_vcpu_hour is None


def test_t1_micro_has_no_baseline_and_no_unlimited_mode(aws_catalog: Catalog) -> None:
    t1 = {t.name: t for t in aws_catalog.instance_types}["t1.micro"]

    assert (t1.baseline_cpu_fraction, t1.unlimited_usd_per_vcpu_hour) == (0.0, None)


def test_an_unknown_burstable_type_is_refused() -> None:
    with pytest.raises(ValueError, match="t9.large"):
        aws_baseline_cpu_fraction("t9.large", burstable=True)
