"""Kubernetes resource quantities ("250m", "1.5Gi", "2", "1e3"), parsed exactly.

One parser for the whole product: requests, limits, allocatable and usage all go through
`parse_quantity`, so a pod is sized the same way by the planner, federation and metering. Numbers
are accepted as well as text, because YAML (and kubectl) write `cpu: 2` and `nvidia.com/gpu: 1`.
Rounding to the integer units the scheduler counts in follows Kubernetes: up (`MilliValue`).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

MIB = 2**20
GIB = 2**30

_FORMAT = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE](?P<exponent>[+-]?[0-9]+))?$"
)
_MULTIPLIERS = {
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
# kube-apiserver refuses larger exponents; a bound also keeps a hostile "1e999999999" cheap.
_MAX_EXPONENT = 30


class QuantityError(ValueError):
    """Text that is not a Kubernetes quantity."""

    def __init__(self, value: object) -> None:
        super().__init__(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 1.5Gi)")
        self.value = value


@lru_cache(maxsize=8192)
def _parse_text(text: str) -> Decimal:
    match = _FORMAT.match(text.strip())
    if match is None:
        raise QuantityError(text)
    number = Decimal(match.group("number"))
    suffix, exponent = match.group("suffix"), match.group("exponent")
    if suffix:
        return number * _MULTIPLIERS[suffix]
    if exponent is not None:
        power = int(exponent)
        if abs(power) > _MAX_EXPONENT:
            raise QuantityError(text)
        return number.scaleb(power)
    return number


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """A quantity as an exact number of base units (cores, bytes, devices); raises QuantityError."""
    if isinstance(value, bool):
        raise QuantityError(value)
    if isinstance(value, Decimal | int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(value)
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise QuantityError(value)
    try:
        return _parse_text(value)
    except InvalidOperation:
        raise QuantityError(value) from None


def millicores(value: str | int | float | Decimal) -> int:
    """CPU in millicores, rounded up as the scheduler does."""
    return math.ceil(parse_quantity(value) * 1000)


def mebibytes(value: str | int | float | Decimal) -> int:
    """Memory or storage in MiB, rounded up."""
    return math.ceil(parse_quantity(value) / MIB)


def whole(value: str | int | float | Decimal) -> int:
    """A count (GPUs, pods), rounded up."""
    return math.ceil(parse_quantity(value))
