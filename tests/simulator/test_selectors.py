import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import ApiError
from simulator.selectors import (
    field_value,
    parse_field_selector,
    parse_label_selector,
    selector_from_object,
    selector_to_string,
)


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app!=web", {}, True),
        ("app!=web", {"app": "web"}, False),
        ("tier in (a, b)", {"tier": "b"}, True),
        ("tier in (a,b)", {"tier": "c"}, False),
        ("tier notin (a,b)", {}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("gpu", {"gpu": ""}, True),
        ("gpu", {}, False),
        ("!gpu", {}, True),
        ("app=web,tier in (a,b),!gpu", {"app": "web", "tier": "a"}, True),
        ("app=web,tier in (a,b),!gpu", {"app": "web", "tier": "a", "gpu": "1"}, False),
    ],
)
def test_label_selector_grammar_matches_like_kubernetes(selector, labels, expected):
    assert parse_label_selector(selector).matches(labels) is expected


def test_unparseable_label_selector_is_a_bad_request():
    with pytest.raises(ApiError) as error:
        parse_label_selector("app in")
    assert error.value.code == 400


label_names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
label_maps = st.dictionaries(label_names, label_names, max_size=4)


@given(match_labels=label_maps, labels=label_maps)
def test_label_selector_object_and_its_string_form_select_the_same_labels(match_labels, labels):
    selector_object = {"matchLabels": match_labels}
    as_string = selector_to_string(selector_object)
    assert parse_label_selector(as_string).matches(labels) == selector_from_object(selector_object).matches(
        labels
    )


@given(labels=label_maps)
def test_a_selector_built_from_labels_selects_those_labels(labels):
    assert selector_from_object({"matchLabels": labels}).matches(labels)


def test_match_expressions_are_honoured():
    selector = selector_from_object(
        {
            "matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a", "b"]},
                {"key": "spot", "operator": "DoesNotExist"},
            ]
        }
    )
    assert selector.matches({"zone": "a"})
    assert not selector.matches({"zone": "a", "spot": "true"})
    assert not selector.matches({"zone": "c"})


def test_field_selector_reads_nested_fields_and_negations():
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    assert parse_field_selector("spec.nodeName=n1,status.phase!=Failed").matches(pod)
    assert not parse_field_selector("spec.nodeName=n2").matches(pod)
    assert parse_field_selector("spec.nodeName=").matches({"metadata": {"name": "q"}, "spec": {}})


def test_unset_unschedulable_reads_as_false_like_the_api_server():
    assert field_value({"spec": {}}, "spec.unschedulable") == "false"
    assert field_value({"spec": {"unschedulable": True}}, "spec.unschedulable") == "true"
