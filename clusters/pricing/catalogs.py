"""In-memory price catalogs per (provider, region), built once per process from data/, and the same
with the market's prices on top (`market_catalog`), rebuilt when a market refresh stores new ones."""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import cache

from django.core.cache import cache as shared_cache

from clusters.pricing import build_aws_catalog, priced_regions
from clusters.pricing.market import with_spot_forecasts
from clusters.pricing.regions import aws_zone_regions
from clusters.selectors import on_demand_prices_of, regions_with_price_lists, spot_forecasts_of
from engines.planner import Catalog, Discount

DEFAULT_REGION = "us-east-1"
# Market catalogs kept per process: (region, discount, market version) of the clusters a worker serves.
_MARKET_CACHE_SIZE = 32


@cache
def list_price_catalog(region: str) -> Catalog:
    """The AWS catalog of a region at list prices; regions without data fall back to us-east-1's
    instance types and prices (estimates for pages and reports; the provisioning pass never plans
    with them, see `market_catalog`)."""
    try:
        catalog = build_aws_catalog(region=region)
    except (ValueError, KeyError):
        catalog = build_aws_catalog(region=DEFAULT_REGION)
    if not catalog.offerings:
        catalog = build_aws_catalog(region=DEFAULT_REGION)
    return catalog


@cache
def priced_catalog(region: str, discount: Discount) -> Catalog:
    """The catalog at an organization's prices (cached: re-pricing every offering takes a while)."""
    return list_price_catalog(region or DEFAULT_REGION).with_discount(discount)


@cache
def _region_catalog(region: str, discount: Discount) -> Catalog:
    """The region's own catalog from the data, empty where the data cannot price it."""
    return build_aws_catalog(region=region).with_discount(discount)


def priced_aws_regions() -> list[str]:
    """AWS regions Nodeless can launch in: those whose prices and zone offerings it knows, from the
    data or from a Price List refresh (one query)."""
    known = set(_data_regions()) | regions_with_price_lists()
    return sorted(known & _zone_regions())


_zone_regions = cache(aws_zone_regions)


@cache
def _data_regions() -> tuple[str, ...]:
    return tuple(priced_regions(providers=["aws"])["aws"])


def market_version_key(region: str) -> str:
    """Set by every market refresh of the region that stored prices (`clusters.services.market`)."""
    return f"market-version:{region}"


_market_lock = threading.Lock()
_market: OrderedDict[tuple[str, Discount, str], Catalog] = OrderedDict()


def market_catalog(region: str, discount: Discount) -> Catalog:
    """What the provisioning pass plans with: the region's own catalog (never another region's: a
    region the data cannot price has no offerings, and its pods stay pending with that reason), its
    on-demand prices from the last Price List refresh, and the spot prices the market refresh
    forecast for its zones.

    Checking for new prices costs one cache read; the stored prices are read from the database once
    per refresh and process. Before the region's first refresh (or when the shared cache lost its
    mark) the data's prices stand, spot estimated as on-demand x (1 - the advisor's typical saving)."""
    region = region or DEFAULT_REGION
    version = shared_cache.get(market_version_key(region))
    if version is None:
        return _region_catalog(region, discount)
    key = (region, discount, str(version))
    with _market_lock:
        known = _market.get(key)
        if known is not None:
            _market.move_to_end(key)
            return known
    on_demand = on_demand_prices_of(region)
    base = (
        build_aws_catalog(region=region, on_demand_prices=on_demand).with_discount(discount)
        if on_demand
        else _region_catalog(region, discount)
    )
    catalog = with_spot_forecasts(base, spot_forecasts_of(region))
    with _market_lock:
        _market[key] = catalog
        while len(_market) > _MARKET_CACHE_SIZE:
            _market.popitem(last=False)
    return catalog
