"""Price catalogs built from the reference data in `data/`, in memory and without Django.

The same catalogs feed the planner, the benchmarks, the savings replay and (through the
`load_catalog` management command) the database.
"""

from billing.pricing.alibaba import (
    GPU_SPEC_TO_AWS_MODELS,
    TracePod,
    alive_at,
    busiest_moment,
    read_alibaba_pods,
    trace_pod_request,
)
from billing.pricing.aws import build_aws_catalog
from billing.pricing.azure_gcp import build_azure_catalog, build_gcp_catalog
from billing.pricing.csvfiles import DEFAULT_DATA_DIR
from billing.pricing.regions import build_catalog, priced_regions

__all__ = [
    "DEFAULT_DATA_DIR",
    "GPU_SPEC_TO_AWS_MODELS",
    "TracePod",
    "alive_at",
    "build_aws_catalog",
    "build_azure_catalog",
    "build_catalog",
    "build_gcp_catalog",
    "busiest_moment",
    "priced_regions",
    "read_alibaba_pods",
    "trace_pod_request",
]
