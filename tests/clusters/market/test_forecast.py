"""The spot forecast the planner plans with: the 24-hour time-weighted mean, never below the
current price; and how it lands on a catalog's spot offerings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clusters.cloud.aws_market import SpotPricePoint
from clusters.pricing import build_aws_catalog
from clusters.pricing.market import spot_forecasts, with_spot_forecasts
from engines.kube.capacity import CapacityType
from engines.planner import Discount

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def _point(hours_ago: float, price: float, zone: str = "us-east-1a") -> SpotPricePoint:
    return SpotPricePoint("m5.large", zone, price, NOW - timedelta(hours=hours_ago))


def test_the_forecast_is_the_time_weighted_mean_of_the_last_day() -> None:
    # 0.04 for 18 hours (the part of a point older than the window counts from its start), 0.10 for
    # 3, then 0.03 now: the day's mean, above the current price.
    points = [_point(30, 0.04), _point(6, 0.10), _point(3, 0.03)]
    (forecast,) = spot_forecasts(points, now=NOW).values()
    assert forecast == pytest.approx((0.04 * 18 + 0.10 * 3 + 0.03 * 3) / 24)


def test_the_forecast_is_never_below_the_price_a_launch_pays_now() -> None:
    points = [_point(20, 0.03), _point(1, 0.09)]
    assert spot_forecasts(points, now=NOW) == {("m5.large", "us-east-1a"): 0.09}


def test_each_zone_has_its_own_forecast() -> None:
    points = [_point(2, 0.05, "us-east-1a"), _point(2, 0.07, "us-east-1b")]
    assert spot_forecasts(points, now=NOW) == {
        ("m5.large", "us-east-1a"): 0.05,
        ("m5.large", "us-east-1b"): 0.07,
    }


def test_forecasts_replace_the_estimate_of_spot_offerings_at_the_organizations_discount() -> None:
    catalog = build_aws_catalog("us-east-1").with_discount(Discount(spot_pct=10))
    spot = [
        o for o in catalog.offerings if o.capacity_type is CapacityType.SPOT and o.instance_type == "m5.large"
    ]
    zone_a, zone_b = spot[0].zone, spot[1].zone
    priced = with_spot_forecasts(catalog, {("m5.large", zone_a): 0.05, ("m5.large", zone_b): 0.07})
    by_zone = {
        o.zone: o
        for o in priced.offerings
        if o.capacity_type is CapacityType.SPOT and o.instance_type == "m5.large"
    }
    assert by_zone[zone_a].list_price == 0.05 and by_zone[zone_a].price == pytest.approx(0.045)
    assert by_zone[zone_b].price == pytest.approx(0.063)
    # The advisor's interruption bucket stays; spot the market does not price in a zone is not sold.
    assert by_zone[zone_a].interruption_bucket == spot[0].interruption_bucket
    assert set(by_zone) == {zone_a, zone_b}
    on_demand = [o for o in priced.offerings if o.capacity_type is CapacityType.ON_DEMAND]
    assert on_demand == [o for o in catalog.offerings if o.capacity_type is CapacityType.ON_DEMAND]


def test_without_market_data_the_catalog_is_unchanged() -> None:
    catalog = build_aws_catalog("us-east-1")
    assert with_spot_forecasts(catalog, {}) is catalog
