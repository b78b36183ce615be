"""One CapacityType, and every spelling of it the clouds and tools use."""

from __future__ import annotations

import pytest

from engines.kube.capacity import CapacityType


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on-demand", CapacityType.ON_DEMAND),
        ("ON_DEMAND", CapacityType.ON_DEMAND),
        ("on_demand", CapacityType.ON_DEMAND),
        ("SPOT", CapacityType.SPOT),
        ("fargate", CapacityType.SERVERLESS),
    ],
)
def test_every_spelling_parses(text: str, expected: CapacityType) -> None:
    assert CapacityType.parse(text) is expected


def test_an_unknown_spelling_is_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        CapacityType.parse("reserved")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"karpenter.sh/capacity-type": "spot"}, CapacityType.SPOT),
        ({"eks.amazonaws.com/capacityType": "ON_DEMAND"}, CapacityType.ON_DEMAND),
        ({"eks.amazonaws.com/compute-type": "fargate"}, CapacityType.SERVERLESS),
        ({"cloud.google.com/gke-spot": "true"}, CapacityType.SPOT),
        ({"karpenter.sh/capacity-type": "weird"}, None),
        ({}, None),
    ],
)
def test_what_a_node_says_it_is(labels: dict[str, str], expected: CapacityType | None) -> None:
    assert CapacityType.of_node(labels) is expected


def test_people_and_aws_each_get_their_spelling() -> None:
    assert CapacityType.ON_DEMAND.label == "on-demand" and CapacityType.ON_DEMAND.heading == "On-demand"
    assert CapacityType.ON_DEMAND.aws_value == "on-demand" and not CapacityType.SERVERLESS.is_instance
