"""Spot prices from the reference data, replacing moto's constant placeholder.

price(type, zone, hour) = on-demand × (1 − savings% / 100) × (1 + zone spread + hourly drift)

- savings% is the spot advisor's typical saving for the type in the region;
- the zone spread is a deterministic ±4% per (type, zone), so zones differ as they do on AWS;
- the hourly drift is a deterministic ±1.5% per (type, zone, hour), so history is not flat.

Everything derives from a SHA-256 of the names, never Python's salted `hash`, so two runs (and
two processes) quote the same prices. Prices change on the hour, like a slow-moving spot market.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from simulator.catalog import AwsCatalog

ZONE_SPREAD = 0.04
HOURLY_DRIFT = 0.015
PRICE_STEP_SECONDS = 3600
PRODUCT_DESCRIPTIONS = ("Linux/UNIX", "Linux/UNIX (Amazon VPC)")


@dataclass(frozen=True)
class SpotPricePoint:
    instance_type: str
    zone: str
    product_description: str
    price: float
    timestamp: float  # epoch seconds (simulated time)


def _unit(*parts: object) -> float:
    """A deterministic number in [-1, 1) from the given names."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**63 - 1.0


def spot_price(catalog: AwsCatalog, region: str, instance_type: str, zone: str, at: float) -> float | None:
    """The spot price in effect at simulated time `at`, or None where spot is not offered."""
    on_demand = catalog.on_demand_price(region, instance_type)
    advice = catalog.spot_advice.get((region, instance_type))
    spec = catalog.instance_types.get(instance_type)
    if on_demand is None or advice is None or spec is None or "spot" not in spec.usage_classes:
        return None
    if not catalog.offered(region, zone, instance_type):
        return None
    hour = math.floor(at / PRICE_STEP_SECONDS)
    factor = 1.0 + ZONE_SPREAD * _unit(instance_type, zone) + HOURLY_DRIFT * _unit(instance_type, zone, hour)
    return round(on_demand * (1 - advice.savings_pct / 100) * factor, 6)


def price_history(
    catalog: AwsCatalog,
    region: str,
    *,
    now: float,
    instance_types: Iterable[str] = (),
    zones: Iterable[str] = (),
    start: float | None = None,
    end: float | None = None,
    product_descriptions: Iterable[str] = (),
) -> list[SpotPricePoint]:
    """DescribeSpotPriceHistory semantics: without a start time, the price in effect now; with
    one, every price change from the one in effect at `start` up to `end` (default now)."""
    types = sorted(set(instance_types)) or sorted(
        t for (r, t) in catalog.spot_advice if r == region and t in catalog.instance_types
    )
    zone_list = sorted(set(zones)) or catalog.zones(region)
    descriptions = [d for d in PRODUCT_DESCRIPTIONS if d in set(product_descriptions)] or [
        PRODUCT_DESCRIPTIONS[0]
    ]
    end = now if end is None else min(end, now)
    first = end if start is None else max(start, end - 31 * 86400)  # AWS keeps 90 days; cap the volume
    first_step = math.floor(first / PRICE_STEP_SECONDS) * PRICE_STEP_SECONDS
    steps = range(int(first_step), int(end) + 1, PRICE_STEP_SECONDS)
    points = []
    for instance_type in types:
        for zone in zone_list:
            for step in steps:
                price = spot_price(catalog, region, instance_type, zone, step)
                if price is None:
                    break
                for description in descriptions:
                    points.append(SpotPricePoint(instance_type, zone, description, price, float(step)))
    points.sort(key=lambda p: (-p.timestamp, p.instance_type, p.zone, p.product_description))
    return points
