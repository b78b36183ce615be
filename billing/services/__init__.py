"""Every write of the billing app: the price catalog, and the usage ledger metering keeps."""

from billing.services.catalog import CatalogLoadReport, Tally, catalog_load

__all__ = ["CatalogLoadReport", "Tally", "catalog_load"]
