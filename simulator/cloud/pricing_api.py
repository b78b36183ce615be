"""A stand-in for the AWS Price List Query API (`pricing`), which moto lacks.

Serves `GetProducts`, `DescribeServices` and `GetAttributeValues` for `AmazonEC2` Linux
on-demand prices from `data/aws/on_demand_prices.csv`, in the JSON-1.1 shapes boto3 parses:
`PriceList` items are JSON *strings* of product documents, as AWS sends them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from simulator.catalog import AwsCatalog
from simulator.cloud.protocol import AwsError

SERVICE_CODE = "AmazonEC2"
PUBLICATION_DATE = "2026-07-20T13:44:30Z"
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "us-gov-east-1": "AWS GovCloud (US-East)",
    "us-gov-west-1": "AWS GovCloud (US-West)",
}
_ON_DEMAND_TERM = "JRTCKXETXF"
_RATE_CODE = "6YS6EN2CT7"
DEFAULT_PAGE_SIZE = 100


def _sku(region: str, instance_type: str) -> str:
    return hashlib.sha256(f"{region}/{instance_type}".encode()).hexdigest()[:16].upper()


class PricingApi:
    def __init__(self, catalog: AwsCatalog) -> None:
        self.catalog = catalog

    @cached_property
    def _products(self) -> list[tuple[dict[str, str], float, str]]:
        products = []
        for (region, instance_type), price in sorted(self.catalog.on_demand_prices.items()):
            spec = self.catalog.instance_types.get(instance_type)
            attributes = {
                "servicecode": SERVICE_CODE,
                "instanceType": instance_type,
                "instanceFamily": "GPU instance" if spec and spec.gpu_count else "General purpose",
                "regionCode": region,
                "location": REGION_NAMES.get(region, region),
                "locationType": "AWS Region",
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "preInstalledSw": "NA",
                "licenseModel": "No License required",
                "capacitystatus": "Used",
                "marketoption": "OnDemand",
                "usagetype": f"BoxUsage:{instance_type}",
                "operation": "RunInstances",
                "vcpu": str(spec.vcpu) if spec else "",
                "memory": f"{spec.memory_mib / 1024:g} GiB" if spec else "",
                "gpu": str(spec.gpu_count) if spec else "0",
                "processorArchitecture": ("64-bit" if spec else ""),
            }
            products.append((attributes, price, _sku(region, instance_type)))
        return products

    def handle(self, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if action == "GetProducts":
            return self.get_products(body)
        if action == "DescribeServices":
            return self.describe_services(body)
        if action == "GetAttributeValues":
            return self.get_attribute_values(body)
        raise AwsError("InvalidParameterException", f"The pricing simulator does not support {action}")

    def _check_service(self, body: Mapping[str, Any]) -> None:
        if body.get("ServiceCode", SERVICE_CODE) != SERVICE_CODE:
            raise AwsError(
                "NotFoundException", f"Service code {body.get('ServiceCode')} is not served by the simulator"
            )

    def get_products(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._check_service(body)
        filters = [
            (f["Field"], str(f["Value"]), f.get("Type", "TERM_MATCH")) for f in body.get("Filters") or ()
        ]
        for _, _, kind in filters:
            if kind != "TERM_MATCH":
                raise AwsError("InvalidParameterException", f"filter type {kind} is not supported")
        matches = [
            (attributes, price, sku)
            for attributes, price, sku in self._products
            if all(attributes.get(field) == value for field, value, _ in filters)
        ]
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or DEFAULT_PAGE_SIZE)
        page = matches[start : start + size]
        result: dict[str, Any] = {
            "FormatVersion": body.get("FormatVersion", "aws_v1"),
            "PriceList": [json.dumps(self._document(*item)) for item in page],
        }
        if start + size < len(matches):
            result["NextToken"] = str(start + size)
        return result

    @staticmethod
    def _document(attributes: dict[str, str], price: float, sku: str) -> dict[str, Any]:
        term = f"{sku}.{_ON_DEMAND_TERM}"
        rate = f"{term}.{_RATE_CODE}"
        return {
            "product": {"productFamily": "Compute Instance", "attributes": attributes, "sku": sku},
            "serviceCode": SERVICE_CODE,
            "terms": {
                "OnDemand": {
                    term: {
                        "priceDimensions": {
                            rate: {
                                "unit": "Hrs",
                                "endRange": "Inf",
                                "description": f"${price} per On Demand Linux {attributes['instanceType']} Instance Hour",
                                "appliesTo": [],
                                "rateCode": rate,
                                "beginRange": "0",
                                "pricePerUnit": {"USD": f"{price:.10f}"},
                            }
                        },
                        "sku": sku,
                        "effectiveDate": "2026-07-01T00:00:00Z",
                        "offerTermCode": _ON_DEMAND_TERM,
                        "termAttributes": {},
                    }
                }
            },
            "version": "20260720134430",
            "publicationDate": PUBLICATION_DATE,
        }

    def describe_services(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if body.get("ServiceCode") not in (None, SERVICE_CODE):
            return {"Services": [], "FormatVersion": "aws_v1"}
        names = sorted(self._products[0][0]) if self._products else []
        return {
            "Services": [{"ServiceCode": SERVICE_CODE, "AttributeNames": names}],
            "FormatVersion": "aws_v1",
        }

    def get_attribute_values(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._check_service(body)
        name = body.get("AttributeName", "")
        values = sorted({attributes.get(name, "") for attributes, _, _ in self._products} - {""})
        return {"AttributeValues": [{"Value": v} for v in values]}
