"""The organization's compute spend as a FinOps FOCUS dataset (FOCUS 1.0): one row per node and hour.

FOCUS names the columns every FinOps tool reads (https://focus.finops.org/focus-specification/v1-0/):
what the provider lists a resource at (`ListCost`, the on-demand price), what it effectively costs
after discounts (`EffectiveCost`: the spot price paid, or on-demand), and what is invoiced
(`BilledCost`; Nodeless buys no commitments and adds no markup, so it equals the effective cost).
Nodeless's own split of a node's cost goes in `x_` columns, as the specification allows for
provider-specific data: the part allocated to pods (`x_AllocatedCost`) and the idle rest
(`x_IdleCost`), following OpenCost.

Each row's costs are sums of the metered intervals of that node in that hour, so the rows add up to
the spend the Reports page shows for the same window.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Sum
from django.db.models.functions import TruncHour

from billing.models import NodeUsage
from clusters.models import ClusterConnection
from engines.kube.capacity import CapacityType
from engines.metering import UNPRICED
from tenants.models import Organization

COLUMNS = (
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "ServiceCategory",
    "ServiceName",
    "RegionId",
    "AvailabilityZone",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "SkuId",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ListUnitPrice",
    "ListCost",
    "ContractedUnitPrice",
    "ContractedCost",
    "EffectiveCost",
    "BilledCost",
    "SubAccountId",
    "SubAccountName",
    "Tags",
    "x_AllocatedCost",
    "x_IdleCost",
)

# FOCUS PricingCategory: on-demand is the standard list price; spot is priced by the market.
_PRICING_CATEGORY = {
    CapacityType.ON_DEMAND.value: "Standard",
    CapacityType.SPOT.value: "Dynamic",
    CapacityType.SERVERLESS.value: "Standard",
    UNPRICED: "Other",  # a node with no known price (on-prem, an unknown type): listed at $0
}
_CAPACITY_LABELS = {kind.value: kind.label for kind in CapacityType} | {UNPRICED: "unpriced"}
_CENT_DIGITS = Decimal("0.0000000001")  # FOCUS costs are decimals; keep the ledger's precision


@dataclass(frozen=True)
class FocusRow:
    values: dict[str, str]

    def cells(self) -> list[str]:
        return [self.values.get(column, "") for column in COLUMNS]


def _month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal(value: object) -> str:
    return str(Decimal(str(value or 0)).quantize(_CENT_DIGITS).normalize()) if value else "0"


def focus_rows(organization: Organization, start: datetime, end: datetime) -> Iterator[FocusRow]:
    """Hourly FOCUS rows of every node the organization paid for in [start, end), oldest first (one
    query, streamed)."""
    rows = (
        NodeUsage.objects.filter(
            organization=organization, interval__start__gte=start, interval__start__lt=end
        )
        .annotate(hour=TruncHour("interval__start"))
        .values(
            "hour",
            "cluster_id",
            "node_name",
            "instance_type",
            "capacity_type",
            "zone",
            cluster_name=F("cluster__name"),
            region=F("cluster__region"),
            connection=F("cluster__connection"),
            account_id=F("cluster__cloud_account__account_id"),
            account_name=F("cluster__cloud_account__name"),
            instance_id=F("managed_node__instance_id"),
        )
        .annotate(
            seconds=Sum("seconds"),
            cost=Sum("cost"),
            on_demand_cost=Sum("on_demand_cost"),
            allocated_cost=Sum("allocated_cost"),
            idle_cost=Sum("idle_cost"),
        )
        .order_by("hour", "cluster_name", "node_name")
    )
    for row in rows.iterator(chunk_size=2000):
        yield _focus_row(organization, row)


def _focus_row(organization: Organization, row: Mapping[str, Any]) -> FocusRow:
    hour: datetime = row["hour"]
    period_start, period_end = _month_bounds(hour)
    hours = Decimal(str(row["seconds"] or 0)) / Decimal(3600)
    on_aws = row["connection"] == ClusterConnection.EKS or bool(row["account_id"])
    capacity = str(row["capacity_type"])
    serverless = capacity == CapacityType.SERVERLESS.value
    list_cost = Decimal(str(row["on_demand_cost"] or 0))
    provider = "AWS" if on_aws else "Self-managed"
    values = {
        "BillingAccountId": str(row["account_id"] or organization.pk),
        "BillingAccountName": str(row["account_name"] or organization.name),
        "BillingCurrency": "USD",
        "BillingPeriodStart": _iso(period_start),
        "BillingPeriodEnd": _iso(period_end),
        "ChargePeriodStart": _iso(hour),
        "ChargePeriodEnd": _iso(hour + timedelta(hours=1)),
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeDescription": f"{row['instance_type'] or 'node'} {_CAPACITY_LABELS.get(capacity, capacity)} node "
        f"{row['node_name']} in {row['cluster_name']}",
        "ChargeFrequency": "Usage-Based",
        "ProviderName": provider,
        "PublisherName": provider,
        "InvoiceIssuerName": provider,
        "ServiceCategory": "Compute",
        "ServiceName": ("AWS Fargate" if serverless else "Amazon Elastic Compute Cloud")
        if on_aws
        else "Kubernetes nodes",
        "RegionId": str(row["region"] or ""),
        "AvailabilityZone": str(row["zone"] or ""),
        "ResourceId": str(row["instance_id"] or row["node_name"]),
        "ResourceName": str(row["node_name"]),
        "ResourceType": "Serverless pod" if serverless else "Virtual machine",
        "SkuId": str(row["instance_type"] or ""),
        "PricingCategory": _PRICING_CATEGORY.get(capacity, "Other"),
        "PricingQuantity": _decimal(hours),
        "PricingUnit": "Hours",
        "ConsumedQuantity": _decimal(hours),
        "ConsumedUnit": "Hours",
        "ListUnitPrice": _decimal(list_cost / hours) if hours else "0",
        "ListCost": _decimal(list_cost),
        "ContractedUnitPrice": _decimal(list_cost / hours) if hours else "0",
        "ContractedCost": _decimal(
            list_cost
        ),  # no negotiated discounts: the contracted price is the list price
        "EffectiveCost": _decimal(row["cost"]),
        "BilledCost": _decimal(row["cost"]),
        "SubAccountId": str(row["cluster_id"]),
        "SubAccountName": str(row["cluster_name"]),
        "Tags": json.dumps(
            {
                "nodeless:cluster": row["cluster_name"],
                "nodeless:capacity-type": _CAPACITY_LABELS.get(capacity, capacity),
            },
            sort_keys=True,
        ),
        "x_AllocatedCost": _decimal(row["allocated_cost"]),
        "x_IdleCost": _decimal(row["idle_cost"]),
    }
    return FocusRow(values)
