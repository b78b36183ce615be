"""In-memory price catalogs per (provider, region), built once per process from data/."""

from __future__ import annotations

from functools import cache

from clusters.pricing import build_aws_catalog
from engines.planner import Catalog, Discount

DEFAULT_REGION = "us-east-1"


@cache
def list_price_catalog(region: str) -> Catalog:
    """The AWS catalog of a region at list prices; regions without data fall back to us-east-1's
    instance types and prices, which is what the reference data can price."""
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
