"""Which (provider, region) pairs the reference data can price, and one builder for all providers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from clusters.pricing.aws import build_aws_catalog
from clusters.pricing.azure_gcp import build_azure_catalog, build_gcp_catalog
from clusters.pricing.csvfiles import DEFAULT_DATA_DIR, read_rows
from engines.planner.catalog import Catalog, Discount

BUILDERS: dict[str, Callable[..., Catalog]] = {
    "aws": build_aws_catalog,
    "azure": build_azure_catalog,
    "gcp": build_gcp_catalog,
}


def _aws_regions(data_dir: Path) -> list[str]:
    zones = {row["region"] for row in read_rows(data_dir / "aws" / "offerings.csv")}
    prices = {row["region"] for row in read_rows(data_dir / "aws" / "on_demand_prices.csv")}
    return sorted(zones & prices)


def aws_zone_regions(data_dir: Path = DEFAULT_DATA_DIR) -> frozenset[str]:
    """Regions whose zone offerings the data knows (a price list alone places nothing in a zone)."""
    return frozenset(row["region"] for row in read_rows(data_dir / "aws" / "offerings.csv"))


def _priced(provider: str) -> Callable[[Path], list[str]]:
    return lambda data_dir: sorted({row["region"] for row in read_rows(data_dir / provider / "prices.csv")})


REGIONS: dict[str, Callable[[Path], list[str]]] = {
    "aws": _aws_regions,
    "azure": _priced("azure"),
    "gcp": _priced("gcp"),
}


def priced_regions(
    data_dir: Path = DEFAULT_DATA_DIR, providers: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """Regions with prices (and, for AWS, zone offerings) in the data, per provider."""
    return {provider: REGIONS[provider](data_dir) for provider in (providers or sorted(REGIONS))}


def build_catalog(
    provider: str, region: str, data_dir: Path = DEFAULT_DATA_DIR, *, discount: Discount | None = None
) -> Catalog:
    if provider not in BUILDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(sorted(BUILDERS))}")
    return BUILDERS[provider](region, data_dir, discount=discount)
