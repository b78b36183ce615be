"""What the cloud market charges, per region, as the market refresh last read it.

Not tenant-owned: list prices and spot prices are the cloud's public market, the same for every
organization (discounts are applied per organization on top). Zone names are the ones the account
that read them uses; AWS maps zone names to physical zones per account, which is why a region is
read through one of the accounts that runs clusters there (see `clusters.services.market`).
"""

from __future__ import annotations

from django.db import models


class SpotPrice(models.Model):
    """A spot price in effect in one zone from `at` on (DescribeSpotPriceHistory's Timestamp)."""

    region = models.CharField(max_length=32)
    zone = models.CharField(max_length=48)
    instance_type = models.CharField(max_length=64)
    usd_per_hour = models.DecimalField(max_digits=14, decimal_places=8)
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["region", "zone", "instance_type", "at"], name="clusters_spot_price_unique"
            )
        ]
        indexes = [models.Index(fields=["region", "at"], name="clusters_spot_price_region_at")]

    def __str__(self) -> str:
        return f"{self.instance_type} spot in {self.zone} at {self.at}: {self.usd_per_hour}"


class SpotPriceForecast(models.Model):
    """The spot price the planner plans with (`clusters.pricing.market.spot_forecasts`)."""

    region = models.CharField(max_length=32)
    zone = models.CharField(max_length=48)
    instance_type = models.CharField(max_length=64)
    usd_per_hour = models.DecimalField(max_digits=14, decimal_places=8)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["region", "zone", "instance_type"], name="clusters_spot_forecast_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance_type} spot in {self.zone}: {self.usd_per_hour} (forecast)"


class OnDemandPrice(models.Model):
    """A Linux on-demand list price, from the Price List API (GetProducts)."""

    region = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    usd_per_hour = models.DecimalField(max_digits=14, decimal_places=8)
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["region", "instance_type"], name="clusters_on_demand_price_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance_type} on-demand in {self.region}: {self.usd_per_hour}"


class MarketRefresh(models.Model):
    """The last refresh of one region's market data: when, what it found, or why it failed."""

    class Kind(models.TextChoices):
        SPOT = "spot", "Spot price history"
        ON_DEMAND = "on_demand", "On-demand price list"

    region = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    refreshed_at = models.DateTimeField(null=True, blank=True)  # the last successful refresh
    attempted_at = models.DateTimeField()
    prices = models.PositiveIntegerField(default=0)  # what the last successful refresh stored
    problem = models.TextField(blank=True)  # why the last attempt failed ("" when it did not)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["region", "kind"], name="clusters_market_refresh_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} prices of {self.region}, refreshed {self.refreshed_at}"
