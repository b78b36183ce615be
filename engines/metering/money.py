"""Money as people and finance tools read it: USD rounded once, the same way on every page, CSV and
API response (half away from zero, never "-0.00").

Amounts (spend, costs, savings, baselines) are to the cent; prices and costs per hour are to six
decimals in the API, the catalogs' own precision (Fargate's GB-hour is $0.004445), which cents would
round a small node's price away to "0.04" or "0.00"."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENTS = 2
RATE_PLACES = 6


def usd_decimal(value: float | Decimal | str, places: int = CENTS) -> Decimal:
    amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return abs(amount) if amount == 0 else amount


def usd(value: float | Decimal | str | None, places: int = CENTS) -> str | None:
    """``value`` as a decimal string with ``places`` decimals ("13.59"); None stays None."""
    return None if value is None else f"{usd_decimal(value, places):f}"
