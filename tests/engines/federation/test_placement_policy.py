"""Label expressions, selectors and policy validation."""

from __future__ import annotations

import pytest

from engines.federation import (
    BurstSettings,
    ClusterSelector,
    LabelExpression,
    Operator,
    PlacementPolicy,
    PolicyError,
    SpreadSettings,
    Strategy,
    WeightRule,
)

LABELS = {"env": "prod", "region": "us-east-1", "tier": "3", "gpu": "a100"}


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        (LabelExpression("env", Operator.IN, ("prod", "staging")), True),
        (LabelExpression("env", Operator.IN, ("dev",)), False),
        (LabelExpression("env", Operator.NOT_IN, ("dev",)), True),
        (LabelExpression("env", Operator.NOT_IN, ("prod",)), False),
        (LabelExpression("owner", Operator.NOT_IN, ("x",)), True),
        (LabelExpression("gpu", Operator.EXISTS), True),
        (LabelExpression("owner", Operator.EXISTS), False),
        (LabelExpression("owner", Operator.DOES_NOT_EXIST), True),
        (LabelExpression("gpu", Operator.DOES_NOT_EXIST), False),
        (LabelExpression("tier", Operator.GT, ("2",)), True),
        (LabelExpression("tier", Operator.GT, ("3",)), False),
        (LabelExpression("tier", Operator.LT, ("4",)), True),
        (LabelExpression("gpu", Operator.GT, ("1",)), False),  # not an integer: no match
        (LabelExpression("owner", Operator.LT, ("1",)), False),
    ],
)
def test_label_expressions_follow_node_affinity_semantics(expression: LabelExpression, matches: bool) -> None:
    assert expression.matches(LABELS) is matches


def test_selector_requires_every_expression_and_empty_matches_all() -> None:
    assert ClusterSelector.equals(env="prod", region="us-east-1").matches(LABELS)
    assert not ClusterSelector.equals(env="prod", region="eu-west-1").matches(LABELS)
    assert ClusterSelector().matches({})


def test_selectors_describe_themselves_compactly() -> None:
    selector = ClusterSelector(
        (
            LabelExpression("env", Operator.IN, ("prod",)),
            LabelExpression("region", Operator.NOT_IN, ("a", "b")),
            LabelExpression("gpu", Operator.EXISTS),
            LabelExpression("tier", Operator.GT, ("2",)),
        )
    )
    assert selector.describe() == "env=prod, region notin (a, b), gpu, tier>2"


def test_equal_selectors_hash_equal_so_memo_tables_are_shared() -> None:
    assert hash(ClusterSelector.equals(env="prod")) == hash(ClusterSelector.equals(env="prod"))
    assert ClusterSelector.equals(env="prod") == ClusterSelector.equals(env="prod")


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: LabelExpression("env", Operator.IN), "values"),
        (lambda: LabelExpression("env", Operator.EXISTS, ("x",)), "values"),
        (lambda: LabelExpression("tier", Operator.GT, ("high",)), "values"),
        (lambda: SpreadSettings(min_groups=3, max_groups=2), "spread.max_groups"),
        (lambda: SpreadSettings(min_groups=0), "spread.min_groups"),
        (lambda: WeightRule(weight=-1, cluster_names=frozenset({"a"})), "weight"),
        (lambda: WeightRule(weight=1), "cluster_names"),
        (lambda: BurstSettings(tiers=()), "burst.tiers"),
        (lambda: PlacementPolicy(Strategy.FILL_THEN_BURST), "burst"),
        (lambda: PlacementPolicy(Strategy.PINNED), "pinned"),
        (lambda: PlacementPolicy(Strategy.CHEAPEST, stickiness=1.5), "stickiness"),
        (lambda: PlacementPolicy(Strategy.CHEAPEST, egress_weight=-1), "egress_weight"),
    ],
)
def test_impossible_policies_are_rejected_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(PolicyError) as raised:
        build()  # type: ignore[operator]
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
