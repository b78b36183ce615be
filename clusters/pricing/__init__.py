"""What each cloud sells and at what list price: catalogs built from the reference data in `data/`,
in memory and without Django.

The same catalogs feed the planner, policy validation, federation pricing and metering
(`catalogs.priced_catalog` gives a region's catalog at an organization's discount).
"""

from clusters.pricing.aws import build_aws_catalog
from clusters.pricing.azure_gcp import build_azure_catalog, build_gcp_catalog
from clusters.pricing.csvfiles import DEFAULT_DATA_DIR
from clusters.pricing.regions import build_catalog, priced_regions

__all__ = [
    "DEFAULT_DATA_DIR",
    "build_aws_catalog",
    "build_azure_catalog",
    "build_catalog",
    "build_gcp_catalog",
    "priced_regions",
]
