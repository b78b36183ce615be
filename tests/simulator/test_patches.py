import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import ApiError
from simulator.patches import (
    applied_field_paths,
    fields_v1_to_paths,
    json_merge_patch,
    json_patch,
    paths_to_fields_v1,
    server_side_apply,
    strategic_merge_patch,
)

POD = {
    "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["a"]},
    "spec": {
        "containers": [
            {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "envoy:1"},
        ],
        "tolerations": [{"key": "x", "operator": "Exists"}],
    },
    "status": {
        "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]
    },
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=4), json_values, max_size=4)


@given(target=json_objects, patch=json_objects)
def test_json_merge_patch_is_idempotent(target, patch):
    once = json_merge_patch(target, patch)
    assert json_merge_patch(once, patch) == once


@given(target=json_objects, patch=json_objects)
def test_patches_never_modify_their_inputs(target, patch):
    before_target, before_patch = copy.deepcopy(target), copy.deepcopy(patch)
    json_merge_patch(target, patch)
    strategic_merge_patch(target, patch)
    assert (target, patch) == (before_target, before_patch)


def test_null_in_a_merge_patch_deletes_the_key():
    assert json_merge_patch({"a": 1, "b": 2}, {"a": None}) == {"b": 2}


def test_strategic_merge_patch_merges_containers_by_name():
    patched = strategic_merge_patch(POD, {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}})
    containers = patched["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["image"] == "nginx:2"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}]


def test_strategic_merge_patch_merges_conditions_by_type():
    patched = strategic_merge_patch(POD, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert {c["type"]: c["status"] for c in patched["status"]["conditions"]} == {
        "Ready": "True",
        "PodScheduled": "True",
    }


def test_strategic_merge_patch_replaces_lists_without_a_merge_key():
    patched = strategic_merge_patch(POD, {"spec": {"tolerations": [{"key": "y", "operator": "Exists"}]}})
    assert patched["spec"]["tolerations"] == [{"key": "y", "operator": "Exists"}]


def test_strategic_merge_patch_directives_delete_items_and_primitives():
    patched = strategic_merge_patch(
        POD,
        {
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{"name": "sidecar", "$patch": "delete"}],
            },
        },
    )
    assert patched["metadata"]["finalizers"] == []
    assert [c["name"] for c in patched["spec"]["containers"]] == ["app"]
    assert "$setElementOrder/containers" not in patched["spec"]


def test_strategic_merge_patch_adds_finalizers_as_a_set():
    patched = strategic_merge_patch(POD, {"metadata": {"finalizers": ["a", "b"]}})
    assert patched["metadata"]["finalizers"] == ["a", "b"]


def test_json_patch_operations():
    document = {"metadata": {"labels": {"a": "1"}}, "list": [1, 2]}
    patched = json_patch(
        document,
        [
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "3"},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "remove", "path": "/list/0"},
            {"op": "copy", "from": "/list/0", "path": "/first"},
            {"op": "test", "path": "/first", "value": 2},
        ],
    )
    assert patched == {"metadata": {"labels": {"a": "3", "b/c": "2"}}, "list": [2, 3], "first": 2}


def test_failed_json_patch_test_operation_is_invalid():
    with pytest.raises(ApiError) as error:
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert error.value.code == 422


def test_replacing_a_missing_path_is_invalid():
    with pytest.raises(ApiError):
        json_patch({"a": 1}, [{"op": "replace", "path": "/b", "value": 2}])


@given(
    document=json_objects,
    key=st.text(min_size=1, max_size=4).filter(lambda k: "~" not in k and "/" not in k),
    value=json_values,
)
def test_json_patch_add_then_remove_restores_the_document(document, key, value):
    if key in document:
        return
    added = json_patch(document, [{"op": "add", "path": f"/{key}", "value": value}])
    assert json_patch(added, [{"op": "remove", "path": f"/{key}"}]) == document


def test_server_side_apply_removes_fields_the_manager_stopped_applying():
    first = {"metadata": {"name": "d", "labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 2}}
    live = server_side_apply(None, first, set())
    second = {"metadata": {"name": "d", "labels": {"a": "1"}}, "spec": {"replicas": 3}}
    live = server_side_apply(live, second, applied_field_paths(first))
    assert live["metadata"]["labels"] == {"a": "1"}
    assert live["spec"]["replicas"] == 3


def test_server_side_apply_keeps_fields_set_by_others():
    live = {"metadata": {"name": "d", "labels": {"a": "1", "owner": "someone-else"}}}
    applied = {"metadata": {"name": "d", "labels": {"a": "2"}}}
    assert server_side_apply(live, applied, set())["metadata"]["labels"] == {
        "a": "2",
        "owner": "someone-else",
    }


def test_managed_fields_round_trip_through_fields_v1():
    applied = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x"}]}}},
        "metadata": {"labels": {"a": "b"}},
    }
    paths = applied_field_paths(applied)
    assert fields_v1_to_paths(paths_to_fields_v1(paths)) == paths
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"app"}', "f:image") in paths
