"""The market refresh: spot price history and on-demand list prices per region, read from AWS through
the role of an account that runs nodeless clusters there, stored, and made into the forecasts the
provisioning pass plans with. System entry points, run by region for the beat's refresh task.

- Spot (`market_refresh_spot`): the price of every offering in effect now (DescribeSpotPriceHistory
  with StartTime = EndTime = now, as Karpenter reads it: a handful of pages, where a day of history
  is a hundred) is stored; each refresh adds the prices in effect then, so the stored history holds
  the market's moves at the refresh period. Points older than `HISTORY_RETENTION` are dropped, and
  the forecast of every (type, zone) is made from the stored last `FORECAST_WINDOW`.
- On-demand (`market_refresh_on_demand`): the Price List API's Linux on-demand prices of the region.

A region is read through the oldest nodeless cluster's account there: zone names are per account
on AWS, and the clusters of that account are the ones the prices are for. A failure is recorded
with its reason (the page and the next refresh see it) and never raises into the task.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import boto3
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from clusters.cloud.aws_market import (
    SpotPricePoint,
    on_demand_price_list,
    price_list_region,
    spot_price_history,
)
from clusters.cloud.errors import CloudError
from clusters.models import (
    Cluster,
    ClusterMode,
    ClusterStatus,
    MarketRefresh,
    OnDemandPrice,
    SpotPrice,
    SpotPriceForecast,
)
from clusters.onboarding.aws import RoleAccessError, assume_role, aws_client
from clusters.pricing.catalogs import market_version_key
from clusters.pricing.market import FORECAST_WINDOW, spot_forecasts

logger = logging.getLogger(__name__)

HISTORY_RETENTION = timedelta(hours=48)
_BATCH = 2000


@dataclass(frozen=True)
class RefreshOutcome:
    region: str
    prices: int
    problem: str = ""


def market_regions() -> list[str]:
    """Regions with connected nodeless clusters on a cloud account: the regions the beat refreshes."""
    return sorted(
        set(
            Cluster.objects.filter(
                mode=ClusterMode.NODELESS, status=ClusterStatus.CONNECTED, cloud_account__isnull=False
            )
            .exclude(region="")
            .values_list("region", flat=True)
        )
    )


def _reader(region: str) -> Cluster | None:
    return (
        Cluster.objects.filter(
            region=region,
            mode=ClusterMode.NODELESS,
            status=ClusterStatus.CONNECTED,
            cloud_account__isnull=False,
        )
        .select_related("cloud_account", "organization")
        .order_by("created_at", "pk")
        .first()
    )


def _record(region: str, kind: str, now: datetime, prices: int, problem: str) -> RefreshOutcome:
    defaults: dict[str, object] = {"attempted_at": now, "problem": problem}
    if not problem:
        defaults.update(refreshed_at=now, prices=prices)
    MarketRefresh.objects.update_or_create(region=region, kind=kind, defaults=defaults)
    if not problem:
        # After the commit: a pass that read the mark before then would keep the old forecasts.
        transaction.on_commit(lambda: cache.set(market_version_key(region), now.isoformat(), None))
    return RefreshOutcome(region, prices, problem)


def _session_for(region: str, purpose: str) -> tuple[boto3.Session, str] | str:
    """(a boto3 session under a cluster's role in `region`, that role) or why there is none."""
    cluster = _reader(region)
    if cluster is None or cluster.cloud_account is None:
        return f"no connected nodeless cluster in {region} to read its {purpose} through"
    role_arn = cluster.cloud_account.role_arn
    try:
        session = assume_role(
            role_arn=role_arn,
            external_id=cluster.organization.external_id,
            region=region,
            session_name="nodeless-market",
        )
    except RoleAccessError as error:
        return str(error)
    return session, role_arn


def _stored_history(region: str, *, since: datetime) -> list[SpotPricePoint]:
    rows = SpotPrice.objects.filter(region=region, at__gte=since).values_list(
        "instance_type", "zone", "usd_per_hour", "at"
    )
    return [
        SpotPricePoint(t, zone, float(price), at) for t, zone, price, at in rows.iterator(chunk_size=5000)
    ]


def market_refresh_spot(region: str, *, now: datetime | None = None) -> RefreshOutcome:
    """Read the region's spot price history, store it, and write the forecasts."""
    now = now or timezone.now()
    found = _session_for(region, "spot prices")
    if isinstance(found, str):
        return _record(region, MarketRefresh.Kind.SPOT, now, 0, found)
    session, role_arn = found
    ec2 = aws_client("ec2", region, session)
    try:
        points = list(spot_price_history(ec2, start=now, end=now, role_arn=role_arn))
    except CloudError as error:
        logger.warning("spot price refresh of %s failed: %s", region, error.message)
        return _record(region, MarketRefresh.Kind.SPOT, now, 0, error.message)
    with transaction.atomic():
        SpotPrice.objects.bulk_create(
            (
                SpotPrice(
                    region=region,
                    zone=p.zone,
                    instance_type=p.instance_type,
                    usd_per_hour=Decimal(str(p.usd_per_hour)),
                    at=p.at,
                )
                for p in points
            ),
            batch_size=_BATCH,
            ignore_conflicts=True,
        )
        SpotPrice.objects.filter(region=region, at__lt=now - HISTORY_RETENTION).delete()
        # The prices just read are in effect now even when they last changed before the window.
        history = [*_stored_history(region, since=now - FORECAST_WINDOW), *points]
        forecasts = spot_forecasts(history, now=now)
        SpotPriceForecast.objects.filter(region=region).delete()
        SpotPriceForecast.objects.bulk_create(
            (
                SpotPriceForecast(
                    region=region,
                    zone=zone,
                    instance_type=instance_type,
                    usd_per_hour=Decimal(str(round(price, 8))),
                    computed_at=now,
                )
                for (instance_type, zone), price in forecasts.items()
            ),
            batch_size=_BATCH,
        )
        return _record(region, MarketRefresh.Kind.SPOT, now, len(forecasts), "")


def market_refresh_on_demand(region: str, *, now: datetime | None = None) -> RefreshOutcome:
    """Read the region's on-demand price list (GetProducts) and store it in place of the last one."""
    now = now or timezone.now()
    found = _session_for(region, "on-demand prices")
    if isinstance(found, str):
        return _record(region, MarketRefresh.Kind.ON_DEMAND, now, 0, found)
    session, role_arn = found
    pricing = aws_client("pricing", price_list_region(region), session)
    try:
        prices = on_demand_price_list(pricing, region=region, role_arn=role_arn)
    except CloudError as error:
        logger.warning("on-demand price refresh of %s failed: %s", region, error.message)
        return _record(region, MarketRefresh.Kind.ON_DEMAND, now, 0, error.message)
    if not prices:
        problem = f"the AWS Price List API has no Linux on-demand EC2 prices for {region}"
        return _record(region, MarketRefresh.Kind.ON_DEMAND, now, 0, problem)
    with transaction.atomic():
        OnDemandPrice.objects.filter(region=region).delete()
        OnDemandPrice.objects.bulk_create(
            (
                OnDemandPrice(
                    region=region,
                    instance_type=instance_type,
                    usd_per_hour=Decimal(str(price)),
                    refreshed_at=now,
                )
                for instance_type, price in prices.items()
            ),
            batch_size=_BATCH,
        )
        return _record(region, MarketRefresh.Kind.ON_DEMAND, now, len(prices), "")
