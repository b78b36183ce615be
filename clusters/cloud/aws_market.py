"""What the AWS market says: spot price history per zone (EC2 DescribeSpotPriceHistory) and
on-demand list prices (the Price List Query API, GetProducts), both read page by page.

Kept apart from the provider's launch path (`aws_provider`): these are read by the market refresh
task per region, not by a reconcile pass.

- Spot: `ProductDescriptions` Linux/UNIX only. Karpenter also asks for "Linux/UNIX (Amazon VPC)"
  (`pkg/providers/pricing/pricing.go`), but since EC2-Classic retired both name the same VPC
  prices, so the second doubles the pages for nothing. With a `StartTime`, AWS returns the price in
  effect at that time and every change since, newest first, `MaxResults` at most 1000 per page, an
  empty `NextToken` on the last one.
- On-demand: the Price List API is served from a few regions only (us-east-1, eu-central-1,
  ap-south-1); every region's prices are there, selected by the `regionCode` attribute. Each item of
  `PriceList` is a JSON *string* of a product document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from clusters.cloud.aws_errors import classify
from clusters.cloud.errors import CloudError

SPOT_PRODUCT_DESCRIPTIONS = ("Linux/UNIX",)
SPOT_PAGE_SIZE = 1000
PRICE_LIST_PAGE_SIZE = 100
PRICE_LIST_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
}
# Where the Price List Query API answers (AWS docs, "Price List Query API endpoints").
PRICE_LIST_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")


@dataclass(frozen=True)
class SpotPricePoint:
    """A spot price in effect in one zone from `at` on (until the next point of the same offering)."""

    instance_type: str
    zone: str
    usd_per_hour: float
    at: datetime


def price_list_region(region: str) -> str:
    """The Price List API endpoint region closest to `region` (Karpenter's choice)."""
    if region.startswith("ap-"):
        return "ap-south-1"
    if region.startswith(("eu-", "me-", "af-", "il-")):
        return "eu-central-1"
    return "us-east-1"


def _fail(error: ClientError | BotoCoreError, role_arn: str, context: str) -> CloudError:
    return classify(error, role_arn=role_arn, context=context)


def spot_price_history(
    ec2: Any, *, start: datetime, end: datetime, role_arn: str = "", page_size: int = SPOT_PAGE_SIZE
) -> Iterator[SpotPricePoint]:
    """Every spot price of the client's region in effect between `start` and `end`, page after
    page (a point AWS repeats, e.g. under another product description, is given once). With
    `start == end`, the price of every offering at that moment, as Karpenter reads it."""
    token = ""
    seen: set[tuple[str, str, datetime]] = set()
    while True:
        arguments: dict[str, Any] = {
            "ProductDescriptions": list(SPOT_PRODUCT_DESCRIPTIONS),
            "StartTime": start,
            "EndTime": end,
            "MaxResults": page_size,
        }
        if token:
            arguments["NextToken"] = token
        try:
            page = ec2.describe_spot_price_history(**arguments)
        except (ClientError, BotoCoreError) as error:
            raise _fail(error, role_arn, "reading the spot price history") from error
        for item in page.get("SpotPriceHistory") or ():
            key = (item["InstanceType"], item["AvailabilityZone"], item["Timestamp"])
            if key in seen:
                continue
            seen.add(key)
            yield SpotPricePoint(key[0], key[1], float(item["SpotPrice"]), key[2])
        token = page.get("NextToken") or ""
        if not token:
            return


def on_demand_price_list(
    pricing: Any, *, region: str, role_arn: str = "", page_size: int = PRICE_LIST_PAGE_SIZE
) -> dict[str, float]:
    """Linux, shared-tenancy on-demand USD/hour per instance type in `region` (GetProducts, paged)."""
    filters = [
        {"Type": "TERM_MATCH", "Field": field, "Value": value}
        for field, value in {**PRICE_LIST_FILTERS, "regionCode": region}.items()
    ]
    prices: dict[str, float] = {}
    token = ""
    while True:
        arguments: dict[str, Any] = {"ServiceCode": "AmazonEC2", "Filters": filters, "MaxResults": page_size}
        if token:
            arguments["NextToken"] = token
        try:
            page = pricing.get_products(**arguments)
        except (ClientError, BotoCoreError) as error:
            raise _fail(error, role_arn, f"reading the on-demand price list of {region}") from error
        for text in page.get("PriceList") or ():
            found = _on_demand_price(json.loads(text))
            if found is not None:
                prices[found[0]] = found[1]
        token = page.get("NextToken") or ""
        if not token:
            return prices


def _on_demand_price(document: Mapping[str, Any]) -> tuple[str, float] | None:
    instance_type = document.get("product", {}).get("attributes", {}).get("instanceType")
    for term in (document.get("terms", {}).get("OnDemand") or {}).values():
        for dimension in (term.get("priceDimensions") or {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if instance_type and usd is not None and float(usd) > 0:
                return str(instance_type), float(usd)
    return None
