"""Money as people and finance tools read it: USD rounded once, the same way on every page, CSV and
API response (half away from zero, never "-0.00").

Amounts (spend, costs, savings, baselines) are to the cent; prices and costs per hour are to six
decimals in the API, the catalogs' own precision (Fargate's GB-hour is $0.004445), which cents would
round a small node's price away to "0.04" or "0.00"."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENTS = 2
RATE_PLACES = 6


def usd_decimal(value: float | Decimal | str, places: int = CENTS) -> Decimal:
    amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return abs(amount) if amount == 0 else amount


def usd(value: float | Decimal | str | None, places: int = CENTS) -> str | None:
    """``value`` as a decimal string with ``places`` decimals ("13.59"); None stays None."""
    return None if value is None else f"{usd_decimal(value, places):f}"


HOURS_PER_MONTH = 730.0  # 365 × 24 / 12, as cloud price lists count a month
PERIODS = {"": "", "h": "/h", "mo": "/mo"}


def usd_text(amount: float | Decimal) -> str:
    """The one money format of the pages: "$1,234.57", "-$3.10"."""
    rounded = usd_decimal(amount)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.{CENTS}f}"


@dataclass(frozen=True)
class RateText:
    text: str  # "$0.10/h", "$70.08/mo" (suffix left out for a column whose header names it)
    exact: Decimal  # the rate per hour to six decimals, as the API and the CSV give it
    title: str  # "$0.041600/h" when the text rounds the rate, else ""


def rate_text(value: float | Decimal, per: str = "h", *, suffix: bool = True) -> RateText:
    """A price per hour to the cent, per hour (``per="h"``) or over a month of 730 hours (``"mo"``):
    a small node's $0.0042/h reads "$0.00/h", so the exact rate goes with it as a title."""
    if per not in ("h", "mo"):
        raise ValueError(f"a rate is per 'h' or 'mo', not {per!r}")
    exact = usd_decimal(value, RATE_PLACES)
    amount = exact * Decimal(str(HOURS_PER_MONTH)) if per == "mo" else exact
    shown = usd_decimal(amount)
    title = "" if shown == amount else f"${exact:f}/h"
    return RateText(usd_text(shown) + (PERIODS[per] if suffix else ""), exact, title)
