"""One quantity parser for the product, checked against the official client's as an oracle."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils import parse_quantity as official

from engines.kube.quantity import QuantityError, mebibytes, millicores, parse_quantity, whole

SUFFIXES = ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti", "n", "u"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250m", Decimal("0.25")),
        ("2", Decimal(2)),
        ("1.5Gi", Decimal(1.5 * 2**30)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1e3", Decimal(1000)),
        ("1E", Decimal(10**18)),
        (".5", Decimal("0.5")),
        ("+3k", Decimal(3000)),
    ],
)
def test_every_notation_kubernetes_accepts(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


def test_numbers_are_quantities_too_as_yaml_writes_them() -> None:
    assert parse_quantity(2) == 2 and parse_quantity(0.5) == Decimal("0.5")
    assert millicores(2) == 2000 and whole(1) == 1


@pytest.mark.parametrize(
    "bad", ["", "abc", "1.2.3", "5 Gi", "1Zi", "1e999999", True, None, float("nan"), [1]]
)
def test_anything_else_is_refused_with_an_example(bad: object) -> None:
    with pytest.raises(QuantityError, match="e.g. 500m"):
        parse_quantity(bad)  # type: ignore[arg-type]


def test_scheduler_units_round_up() -> None:
    assert millicores("0.1m") == 1 and millicores("1.0001") == 1001
    assert mebibytes("1") == 1 and mebibytes("1Mi") == 1 and mebibytes("1025Ki") == 2


@given(
    number=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
    suffix=st.sampled_from(SUFFIXES),
)
def test_agrees_with_the_official_client(number: Decimal, suffix: str) -> None:
    text = f"{number.normalize():f}{suffix}"
    assert parse_quantity(text) == official(text)
