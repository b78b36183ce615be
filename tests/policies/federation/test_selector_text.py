"""The readable cluster-selector syntax: what each form means, what it refuses, and that the
text shown for a selector parses back to the same selector."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engines.federation import ClusterSelector, LabelExpression, Operator
from policies.federation.selector_text import (
    SelectorSyntaxError,
    parse_selector,
    parse_selector_text,
    selector_text,
    selector_to_json,
)

PROD_AWS = {"env": "prod", "cloud": "aws", "tier": "3"}
DEV_GCP_SPOT = {"env": "dev", "cloud": "gcp", "spot": "true", "tier": "1"}


@pytest.mark.parametrize(
    ("text", "matches_prod_aws", "matches_dev_gcp_spot"),
    [
        ("", True, True),
        ("env=prod", True, False),
        ("env==prod", True, False),
        ("env!=prod", False, True),
        ("cloud in (aws, gcp)", True, True),
        ("cloud notin (aws)", False, True),
        ("spot", False, True),
        ("!spot", True, False),
        ("tier>2", True, False),
        ("tier<2", False, True),
        ("env=prod, cloud in (aws,gcp), !spot, tier>2", True, False),
    ],
)
def test_each_form_selects_what_it_says(text, matches_prod_aws, matches_dev_gcp_spot) -> None:
    selector = parse_selector_text(text)
    assert selector.matches(PROD_AWS) is matches_prod_aws
    assert selector.matches(DEV_GCP_SPOT) is matches_dev_gcp_spot


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cloud in aws", "put the values in parentheses, e.g. cloud in (a, b)"),
        ("tier>high", "needs an integer"),
        ("env=prod,, cloud=aws", "remove the extra comma"),
        ("cloud in (aws", "unbalanced '('"),
        ("env ~ prod", "is not a requirement"),
        ("env=in valid", "is not a requirement"),
    ],
)
def test_bad_selectors_are_refused_with_the_fix(text, words) -> None:
    with pytest.raises(SelectorSyntaxError) as raised:
        parse_selector_text(text)
    assert words in str(raised.value)


def test_the_structured_form_means_the_same() -> None:
    structured = [
        {"key": "env", "operator": "In", "values": ["prod"]},
        {"key": "spot", "operator": "DoesNotExist"},
    ]
    assert parse_selector(structured) == parse_selector_text("env=prod, !spot")
    with pytest.raises(SelectorSyntaxError, match="operator 'Near' must be one of"):
        parse_selector([{"key": "env", "operator": "Near", "values": ["x"]}])


_NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_EXPRESSIONS = st.one_of(
    st.builds(
        lambda k, v: LabelExpression(k, Operator.IN, tuple(v)),
        _NAMES,
        st.lists(_NAMES, min_size=1, max_size=3),
    ),
    st.builds(
        lambda k, v: LabelExpression(k, Operator.NOT_IN, tuple(v)),
        _NAMES,
        st.lists(_NAMES, min_size=1, max_size=3),
    ),
    st.builds(lambda k: LabelExpression(k, Operator.EXISTS), _NAMES),
    st.builds(lambda k: LabelExpression(k, Operator.DOES_NOT_EXIST), _NAMES),
    st.builds(lambda k, n: LabelExpression(k, Operator.GT, (str(n),)), _NAMES, st.integers(0, 999)),
    st.builds(lambda k, n: LabelExpression(k, Operator.LT, (str(n),)), _NAMES, st.integers(0, 999)),
)


@given(st.lists(_EXPRESSIONS, max_size=5))
def test_the_text_of_a_selector_parses_back_to_it(expressions) -> None:
    selector = ClusterSelector(tuple(expressions))
    assert parse_selector_text(selector_text(selector)) == selector
    assert parse_selector(selector_to_json(selector)) == selector
