"""Egress: the default table's categories, overrides, and egress changing where a workload goes."""

from __future__ import annotations

import pytest

from engines.federation import (
    EgressCategory,
    EgressTable,
    Fleet,
    Location,
    PlacementPolicy,
    Strategy,
    egress_category,
    schedule,
)
from tests.engines.federation.federation_builders import by_name, observe_cluster, workload


@pytest.mark.parametrize(
    ("source", "destination", "category"),
    [
        (Location("aws", "us-east-1", "a"), Location("aws", "us-east-1", "a"), EgressCategory.SAME_ZONE),
        (Location("aws", "us-east-1", "a"), Location("aws", "us-east-1", "b"), EgressCategory.CROSS_ZONE),
        (Location("aws", "us-east-1"), Location("aws", "us-east-1", "b"), EgressCategory.CROSS_ZONE),
        (Location("aws", "us-east-1"), Location("aws", "eu-west-1"), EgressCategory.CROSS_REGION),
        (Location("aws", "us-east-1"), Location("gcp", "us-east1"), EgressCategory.CROSS_CLOUD),
        (Location("onprem", "dc1"), Location("aws", "us-east-1"), EgressCategory.ONPREM_CLOUD),
        (Location("onprem", "dc1"), Location("onprem", "dc2"), EgressCategory.CROSS_REGION),
        (Location("aws", "us-east-1"), Location("", ""), EgressCategory.CROSS_CLOUD),
    ],
)
def test_locations_map_to_the_documented_categories(
    source: Location, destination: Location, category: EgressCategory
) -> None:
    assert egress_category(source, destination) is category


def test_default_rates_grow_with_distance_and_can_be_overridden() -> None:
    table = EgressTable()
    rates = [getattr(table, category.value) for category in EgressCategory]
    assert rates == sorted(rates)
    direct_connect = EgressTable(onprem_cloud=0.02)
    assert direct_connect.rate(Location("onprem", "dc1"), Location("aws", "us-east-1")) == 0.02


DATA_IN_US_EAST = Location("aws", "us-east-1")


def clusters() -> list:
    # gcp is cheaper per core but across the internet from the data; aws sits next to it.
    return [
        observe_cluster("aws-use1", core_hour=0.040, cloud="aws", region="us-east-1"),
        observe_cluster("gcp-usc1", core_hour=0.034, cloud="gcp", region="us-central1"),
    ]


def test_egress_cost_moves_a_chatty_workload_next_to_its_data() -> None:
    chatty = workload(4, egress_gb_per_hour=40, egress_source=DATA_IN_US_EAST)
    quiet = workload(4, egress_gb_per_hour=0, egress_source=DATA_IN_US_EAST)
    policy = PlacementPolicy(Strategy.CHEAPEST)
    assert by_name(dict(schedule(quiet, policy, clusters()).replicas)) == {"gcp-usc1": 4}
    result = schedule(chatty, policy, clusters())
    assert by_name(dict(result.replicas)) == {"aws-use1": 4}
    runner_up = result.decision.runner_ups[0]
    assert runner_up.cluster_name == "gcp-usc1"
    assert runner_up.egress_per_hour == pytest.approx(40 * 0.09)


def test_egress_weight_zero_ignores_egress() -> None:
    chatty = workload(4, egress_gb_per_hour=40, egress_source=DATA_IN_US_EAST)
    result = schedule(chatty, PlacementPolicy(Strategy.CHEAPEST, egress_weight=0), clusters())
    assert by_name(dict(result.replicas)) == {"gcp-usc1": 4}


def test_a_fleet_and_a_different_egress_table_are_refused_together() -> None:
    fleet = Fleet(clusters())
    with pytest.raises(ValueError, match="egress_table"):
        schedule(
            workload(1), PlacementPolicy(Strategy.CHEAPEST), fleet, egress_table=EgressTable(cross_cloud=1.0)
        )
