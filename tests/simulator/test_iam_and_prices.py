"""Pure parts of the simulated cloud: IAM evaluation, spot prices, the Pricing stand-in."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.catalog import load_catalog
from simulator.cloud.iam_policy import is_action_allowed, is_assume_role_allowed
from simulator.cloud.pricing_api import PricingApi
from simulator.cloud.spot_prices import HOURLY_DRIFT, ZONE_SPREAD, price_history, spot_price

VENDOR = "111122223333"
TRUST = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{VENDOR}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "org-42"}},
        }
    ]
}
CALLER = f"arn:aws:iam::{VENDOR}:user/control-plane"


def test_trust_requires_the_principal_and_the_external_id():
    assert is_assume_role_allowed(TRUST, CALLER, VENDOR, "org-42")
    assert not is_assume_role_allowed(TRUST, CALLER, VENDOR, "org-43")
    assert not is_assume_role_allowed(TRUST, CALLER, VENDOR, None)
    assert not is_assume_role_allowed(TRUST, "arn:aws:iam::999999999999:user/x", "999999999999", "org-42")


def test_trust_naming_a_role_trusts_only_that_role():
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{VENDOR}:role/Nodeless"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    assert is_assume_role_allowed(trust, f"arn:aws:iam::{VENDOR}:role/Nodeless", VENDOR, None)
    assert not is_assume_role_allowed(trust, CALLER, VENDOR, None)


def test_explicit_deny_beats_allow_and_wildcards_match():
    policies: list[dict[str, Any]] = [
        {"Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:CreateFleet"], "Resource": "*"}]},
        {"Statement": {"Effect": "Deny", "Action": "ec2:CreateFleet", "Resource": "*"}},
    ]
    assert is_action_allowed(policies, "ec2:DescribeInstances")
    assert not is_action_allowed(policies, "ec2:CreateFleet")
    assert not is_action_allowed(policies, "ec2:TerminateInstances")


def test_not_action_allows_everything_else():
    policies: list[dict[str, Any]] = [
        {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    ]
    assert is_action_allowed(policies, "ec2:RunInstances")
    assert not is_action_allowed(policies, "iam:CreateRole")


CATALOG = load_catalog()
SPOT_TYPES = sorted(
    t
    for (r, t) in CATALOG.spot_advice
    if r == "us-east-1"
    and ("us-east-1", t) in CATALOG.on_demand_prices
    and t in CATALOG.instance_types
    and "spot" in CATALOG.instance_types[t].usage_classes
    and any(CATALOG.offered("us-east-1", z, t) for z in CATALOG.zones("us-east-1"))
)


@given(instance_type=st.sampled_from(SPOT_TYPES), hour=st.integers(min_value=0, max_value=10**6))
def test_spot_prices_stay_near_the_advisor_discount(instance_type, hour):
    savings = CATALOG.spot_advice[("us-east-1", instance_type)].savings_pct
    expected = CATALOG.on_demand_prices[("us-east-1", instance_type)] * (1 - savings / 100)
    zones = [z for z in CATALOG.zones("us-east-1") if CATALOG.offered("us-east-1", z, instance_type)]
    for zone in zones:
        price = spot_price(CATALOG, "us-east-1", instance_type, zone, hour * 3600.0)
        assert price == pytest.approx(expected, rel=ZONE_SPREAD + HOURLY_DRIFT + 1e-6)
        assert price == spot_price(
            CATALOG, "us-east-1", instance_type, zone, hour * 3600.0 + 1800
        )  # hourly steps


def test_zones_quote_different_spot_prices():
    prices = {
        z: spot_price(CATALOG, "us-east-1", "m5.large", z, 0.0)
        for z in ("us-east-1a", "us-east-1b", "us-east-1c")
    }
    assert len(set(prices.values())) == 3


def test_price_history_covers_the_requested_window():
    points = price_history(
        CATALOG,
        "us-east-1",
        now=10 * 3600.0,
        instance_types=["m5.large"],
        zones=["us-east-1a"],
        start=4 * 3600.0,
    )
    assert [p.timestamp / 3600 for p in points] == [10, 9, 8, 7, 6, 5, 4]


def test_pricing_api_filters_and_pages_like_aws():
    api = PricingApi(CATALOG)
    filters = [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "m5.large"},
    ]
    result = api.handle("GetProducts", {"ServiceCode": "AmazonEC2", "Filters": filters})
    [document] = [json.loads(item) for item in result["PriceList"]]
    dimension = next(iter(next(iter(document["terms"]["OnDemand"].values()))["priceDimensions"].values()))
    assert float(dimension["pricePerUnit"]["USD"]) == CATALOG.on_demand_price("us-east-1", "m5.large")
    first = api.handle("GetProducts", {"ServiceCode": "AmazonEC2", "MaxResults": 10})
    second = api.handle(
        "GetProducts", {"ServiceCode": "AmazonEC2", "MaxResults": 10, "NextToken": first["NextToken"]}
    )
    assert not set(first["PriceList"]) & set(second["PriceList"])
