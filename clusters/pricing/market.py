"""Market prices on top of a region's catalog: the spot price the planner plans with is a forecast
made from the zone's recent spot price history, next to the Spot Instance Advisor's interruption
bucket (which stays, from `data/aws/spot_advisor.csv`).

The forecast is the **time-weighted mean of the last 24 hours, but never below the current price**:

- a node the planner launches now pays the current price at once, so the forecast is never lower;
- nodes live for hours, and a spot price that just dipped tends to come back (AWS has moved spot
  prices gradually since 2017, on supply and demand over days, not bids): the 24-hour mean keeps the
  planner from chasing a zone whose price is momentarily low, and from replacing nodes on noise;
- a maximum would price every offering at its worst hour of the day and, one hour's spike being
  enough, push whole pools to on-demand needlessly; the mean follows a sustained rise within hours.

No Django here: the refresh service stores history and forecasts, the catalogs module applies them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from clusters.cloud.aws_market import SpotPricePoint
from engines.kube.capacity import CapacityType
from engines.planner.catalog import Catalog, Offering

FORECAST_WINDOW = timedelta(hours=24)
OfferingKey = tuple[str, str]  # (instance type, zone)


def spot_forecasts(
    points: Iterable[SpotPricePoint], *, now: datetime, window: timedelta = FORECAST_WINDOW
) -> dict[OfferingKey, float]:
    """The forecast price per (type, zone), from history points (each in effect until the next)."""
    by_offering: dict[OfferingKey, list[SpotPricePoint]] = {}
    for point in points:
        by_offering.setdefault((point.instance_type, point.zone), []).append(point)
    forecasts: dict[OfferingKey, float] = {}
    for key, history in by_offering.items():
        history.sort(key=lambda p: p.at)
        # A cloud clock a little ahead of ours still ends the window at its newest price.
        end = max(now, history[-1].at)
        current = history[-1].usd_per_hour
        forecasts[key] = max(current, _time_weighted_mean(history, end - window, end))
    return forecasts


def _time_weighted_mean(history: list[SpotPricePoint], start: datetime, end: datetime) -> float:
    """Mean price over [start, end]; a point before `start` counts from `start` (it was in effect)."""
    total = weight = 0.0
    for point, following in zip(history, [*history[1:], None], strict=True):
        begins = max(point.at, start)
        ends = min(following.at if following is not None else end, end)
        seconds = (ends - begins).total_seconds()
        if seconds > 0:
            total += point.usd_per_hour * seconds
            weight += seconds
    return total / weight if weight else history[-1].usd_per_hour


def with_spot_forecasts(catalog: Catalog, forecasts: Mapping[OfferingKey, float]) -> Catalog:
    """`catalog` with each spot offering's list price replaced by its forecast, where there is one
    (the interruption bucket and cost rate stay). Spot in a zone whose market has no price for the
    type is not sold there: such offerings are dropped once the region has any market data.
    Prices are then derived again for the catalog's discount."""
    if not forecasts:
        return catalog
    offerings: list[Offering] = []
    for offering in catalog.offerings:
        if offering.capacity_type is not CapacityType.SPOT:
            offerings.append(offering)
            continue
        price = forecasts.get((offering.instance_type, offering.zone))
        if price is not None:
            offerings.append(replace(offering, list_price=price, price=price))
    return replace(catalog, offerings=tuple(offerings)).with_discount(catalog.discount)
