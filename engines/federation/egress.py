"""Network egress pricing between a workload's traffic source and a member cluster.

Cost per hour of placing m of a workload's n replicas in a cluster:
``m / n · egress_gb_per_hour · $/GB(source, cluster) · policy.egress_weight``.

Default table, $/GB, list prices of the big three clouds (AWS data-transfer, GCP network and
Azure bandwidth pricing pages, 2024-2025), rounded to the usual tier-1 figures:

| category      | when                                                        | $/GB |
|---------------|-------------------------------------------------------------|------|
| same_zone     | same cloud, region and zone (both zones known)              | 0.00 |
| cross_zone    | same cloud and region, different or unknown zone            | 0.01 |
| cross_region  | same cloud (or both on-prem), different region              | 0.02 |
| cross_cloud   | different public clouds: internet egress                    | 0.09 |
| onprem_cloud  | one side on-prem (cloud label ``onprem``), the other public | 0.09 |

``onprem_cloud`` defaults to the internet rate; an organization with Direct Connect, Cloud
Interconnect or ExpressRoute should override it (those charge about 0.02 $/GB out).
A cluster without cloud/region labels is priced as ``cross_cloud``, the conservative choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from engines.federation.model import ON_PREM_CLOUD, Location


class EgressCategory(StrEnum):
    SAME_ZONE = "same_zone"
    CROSS_ZONE = "cross_zone"
    CROSS_REGION = "cross_region"
    CROSS_CLOUD = "cross_cloud"
    ONPREM_CLOUD = "onprem_cloud"


def egress_category(source: Location, destination: Location) -> EgressCategory:
    if not (source.cloud and source.region and destination.cloud and destination.region):
        return EgressCategory.CROSS_CLOUD
    if source.cloud != destination.cloud:
        if ON_PREM_CLOUD in (source.cloud, destination.cloud):
            return EgressCategory.ONPREM_CLOUD
        return EgressCategory.CROSS_CLOUD
    if source.region != destination.region:
        return EgressCategory.CROSS_REGION
    if source.zone and destination.zone and source.zone == destination.zone:
        return EgressCategory.SAME_ZONE
    return EgressCategory.CROSS_ZONE


@dataclass(frozen=True, slots=True)
class EgressTable:
    """$/GB per category; override any field per organization."""

    same_zone: float = 0.0
    cross_zone: float = 0.01
    cross_region: float = 0.02
    cross_cloud: float = 0.09
    onprem_cloud: float = 0.09

    def __post_init__(self) -> None:
        for category in EgressCategory:
            if getattr(self, category.value) < 0:
                raise ValueError(f"egress rate {category.value} must be >= 0")

    def rate(self, source: Location, destination: Location) -> float:
        rate: float = getattr(self, egress_category(source, destination).value)
        return rate


DEFAULT_EGRESS_TABLE = EgressTable()
