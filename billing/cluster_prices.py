"""The price lookups of a cluster: its region's catalog at its organization's negotiated discount."""

from __future__ import annotations

from functools import lru_cache

from clusters.models import CloudAccount, Cluster
from clusters.pricing.catalogs import DEFAULT_REGION, priced_catalog
from engines.metering import CatalogPrices
from engines.planner import Discount

REGION_LABEL = "region"


def account_discount(account: CloudAccount | None) -> Discount:
    return Discount() if account is None else account.discount


def cluster_region(cluster: Cluster) -> str:
    """EKS clusters know their region; kubeconfig clusters may say it in their `region` label."""
    return cluster.region or str((cluster.labels or {}).get(REGION_LABEL) or "") or DEFAULT_REGION


@lru_cache(maxsize=64)
def region_prices(region: str, discount: Discount) -> CatalogPrices:
    """Built once per process and (region, discount): the catalog has thousands of offerings."""
    return CatalogPrices(priced_catalog(region, discount))


def cluster_prices(cluster: Cluster) -> CatalogPrices:
    """Prices the organization pays in the cluster's region (needs `cluster.cloud_account` loaded)."""
    return region_prices(cluster_region(cluster), account_discount(cluster.cloud_account))


def list_prices(cluster: Cluster) -> CatalogPrices:
    return region_prices(cluster_region(cluster), Discount())
