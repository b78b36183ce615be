"""The market refresh against the simulated AWS: spot price history read page by page per zone,
stored, forecast, and planned with by the provisioning pass; the on-demand price list from the
Price List API; failures recorded with their reason."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from clusters.models import Cluster, MarketRefresh, OnDemandPrice, SpotPrice, SpotPriceForecast
from clusters.pricing.catalogs import market_version_key
from clusters.services.market import market_refresh_on_demand, market_refresh_spot, market_regions
from engines.kube.capacity import CapacityType
from workers.provisioning.context import catalog_for

pytestmark = pytest.mark.django_db


def test_spot_prices_are_read_per_zone_over_time_and_the_pass_plans_with_their_forecast(
    nodeless, django_capture_on_commit_callbacks
) -> None:
    cache.delete(market_version_key("us-east-1"))
    assert market_regions() == ["us-east-1"]

    start = timezone.now() - timedelta(hours=2)
    for hour in range(3):  # hourly refreshes: each stores the prices in effect then
        with django_capture_on_commit_callbacks(execute=True):
            outcome = market_refresh_spot("us-east-1", now=start + timedelta(hours=hour))
        assert outcome.problem == ""
        assert outcome.prices > 1000  # more than one page of DescribeSpotPriceHistory

    stored = SpotPrice.objects.filter(region="us-east-1")
    history = stored.filter(instance_type="m5.large")
    zones = sorted(set(history.values_list("zone", flat=True)))
    assert len(zones) > 1
    # The market moves: one zone's price changed within the day, and zones differ from each other.
    assert len(set(history.filter(zone=zones[0]).values_list("usd_per_hour", flat=True))) > 1
    forecasts = {f.zone: f.usd_per_hour for f in SpotPriceForecast.objects.filter(instance_type="m5.large")}
    assert len(set(forecasts.values())) > 1
    assert MarketRefresh.objects.get(region="us-east-1", kind="spot").prices == outcome.prices

    cluster = Cluster.objects.select_related("cloud_account").get(pk=nodeless.cluster.pk)
    catalog = catalog_for(cluster, 0.0)
    planned = {
        o.zone: o.list_price
        for o in catalog.offerings
        if o.instance_type == "m5.large" and o.capacity_type is CapacityType.SPOT
    }
    assert planned == {zone: float(price) for zone, price in forecasts.items()}


def test_a_region_nobody_runs_nodeless_clusters_in_is_not_read_and_says_why(db) -> None:
    outcome = market_refresh_spot("eu-west-3")
    assert outcome.prices == 0
    assert "no connected nodeless cluster in eu-west-3" in outcome.problem
    assert MarketRefresh.objects.get(region="eu-west-3", kind="spot").refreshed_at is None


def test_on_demand_prices_come_from_the_price_list_api_page_by_page(nodeless) -> None:
    outcome = market_refresh_on_demand("us-east-1")
    assert outcome.problem == ""
    assert outcome.prices > 1000  # the Price List API serves 100 products a page
    assert OnDemandPrice.objects.get(region="us-east-1", instance_type="m5.large").usd_per_hour == Decimal(
        "0.096"
    )


def test_a_refused_call_is_recorded_with_aws_reason_and_the_last_prices_stay(nodeless) -> None:
    assert market_refresh_on_demand("us-east-1").problem == ""
    nodeless.aws.cloud.throttle("pricing:GetProducts", times=10)
    outcome = market_refresh_on_demand("us-east-1")
    assert outcome.problem
    refresh = MarketRefresh.objects.get(region="us-east-1", kind="on_demand")
    assert refresh.problem == outcome.problem and refresh.prices > 1000
    assert OnDemandPrice.objects.filter(region="us-east-1").count() == refresh.prices
