"""Parsers that cannot be bombed (issue 17, item 3): YAML aliases expand by a small bounded amount
at most, documents are bounded in size and depth, hold only JSON values, and errors never repeat
the document. Through the API (kubeconfigs and manifests) and at the module."""

from __future__ import annotations

import json

import pytest

from clusters.models import Cluster
from nodeless_saas.documents import (
    MAX_ALIAS_NODES,
    DocumentError,
    check_value,
    describe,
    load_json,
    load_yaml_documents,
)
from policies.models import Workload
from tests.fixtures.federation import deployment

CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="


def laughs(levels: int, key: str = "bomb") -> str:
    """A "billion laughs" mapping entry: level n is a list of nine aliases of level n-1."""
    lines = [f'{key}0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"{key}{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def kubeconfig(server: str = "https://203.0.113.10", user: str = "{token: abc}", extra: str = "") -> str:
    return (
        extra
        + "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
        + f"clusters: [{{name: c, cluster: {{server: {server}, certificate-authority-data: {CA}}}}}]\n"
        + "contexts: [{name: prod, context: {cluster: c, user: u}}]\n"
        + f"users: [{{name: u, user: {user}}}]\n"
    )


def _error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content[:500]
    assert len(response.content) < 4_000, f"an error body of {len(response.content)} bytes"
    return response.json()["error"]


# --- through the API ----------------------------------------------------------------------------


@pytest.fixture
def shop_policy(api_a) -> None:
    """A policy for namespace shop, so a manifest that parses is stored (the case to refuse)."""
    policy = {"name": "web", "strategy": "cheapest", "workload_selector": {"namespaces": ["shop"]}}
    assert api_a.post("/api/v1/federation-policies/", policy, format="json").status_code == 201


@pytest.mark.django_db
def test_a_kubeconfig_alias_bomb_is_refused_in_a_short_message(api_a) -> None:
    text = kubeconfig(server="*l6", extra=laughs(6))
    assert len(text.encode()) < 1_000
    error = _error(api_a.post("/api/v1/clusters/", {"kubeconfig": text}, format="json"))
    assert "aliases" in error["fields"]["kubeconfig"][0]
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_a_kubeconfig_whose_exec_is_a_string_is_refused_with_what_to_use_instead(api_a) -> None:
    text = kubeconfig(user='{exec: "aws eks get-token --cluster-name prod"}')
    error = _error(api_a.post("/api/v1/clusters/", {"kubeconfig": text}, format="json"))
    assert "exec plugin" in error["fields"]["kubeconfig"][0]


@pytest.mark.django_db
def test_a_kubeconfig_naming_a_structure_as_its_server_does_not_repeat_it(api_a) -> None:
    text = kubeconfig(server="{" + ", ".join(f"k{index}: {'v' * 50}" for index in range(200)) + "}")
    error = _error(api_a.post("/api/v1/clusters/", {"kubeconfig": text}, format="json"))
    assert "The server an object is not an https:// URL" in error["fields"]["kubeconfig"][0]


@pytest.mark.django_db
def test_a_manifest_alias_bomb_is_refused_and_nothing_is_stored(api_a, shop_policy) -> None:
    manifest = laughs(6, key="x-bomb") + deployment()
    assert len(manifest.encode()) < 1_500
    error = _error(api_a.post("/api/v1/workloads/", {"manifest": manifest}, format="json"))
    assert "aliases" in error["fields"]["manifest"][0]
    assert not Workload.objects.exists()


@pytest.mark.django_db
def test_a_recursive_manifest_is_refused(api_a, shop_policy) -> None:
    manifest = "x-loop: &loop [1, *loop]\n" + deployment()
    error = _error(api_a.post("/api/v1/workloads/", {"manifest": manifest}, format="json"))
    assert "refers to itself" in error["fields"]["manifest"][0]


@pytest.mark.django_db
def test_a_deeply_nested_manifest_is_refused(api_a, shop_policy) -> None:
    manifest = "x-deep: " + "[" * 5_000 + "]" * 5_000 + "\n" + deployment()
    error = _error(api_a.post("/api/v1/workloads/", {"manifest": manifest}, format="json"))
    assert "nested more than" in error["fields"]["manifest"][0]


@pytest.mark.django_db
def test_a_manifest_is_read_as_json_values_timestamps_stay_text(api_a, shop_policy) -> None:
    manifest = deployment() + "x-since: 2026-01-01\n"
    response = api_a.post("/api/v1/workloads/", {"manifest": manifest}, format="json")
    assert response.status_code == 201, response.content[:500]
    assert Workload.objects.get().manifest["x-since"] == "2026-01-01"


@pytest.mark.django_db
def test_a_manifest_with_a_binary_value_is_refused(api_a, shop_policy) -> None:
    manifest = deployment() + "x-blob: !!binary aGVsbG8=\n"
    error = _error(api_a.post("/api/v1/workloads/", {"manifest": manifest}, format="json"))
    assert "binary" in error["fields"]["manifest"][0]


# --- the module ---------------------------------------------------------------------------------


def test_a_few_small_aliases_are_kept_expanded() -> None:
    [document] = load_yaml_documents(
        "base: &base {cpu: 1, memory: 1Gi}\na: *base\nb: {<<: *base, cpu: 2}\n", what="It", max_bytes=1_000
    )
    assert document == {
        "base": {"cpu": 1, "memory": "1Gi"},
        "a": {"cpu": 1, "memory": "1Gi"},
        "b": {"cpu": 2, "memory": "1Gi"},
    }


def test_aliases_are_counted_as_what_they_expand_to() -> None:
    # Two levels (81 values) pass; nested levels each multiply by nine and the fourth goes past.
    assert load_yaml_documents(laughs(2), what="It", max_bytes=10_000)
    with pytest.raises(DocumentError, match=f"more than {MAX_ALIAS_NODES} values"):
        load_yaml_documents(laughs(4), what="It", max_bytes=10_000)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: .nan\n", "not finite"),
        ("a: " + "9" * 5_000 + "\n", "too large to read"),
        ('a: "x\\0y"\n', "NUL"),
        ("a: !!set {x}\n", "'set'"),
        ("a: [\n", "not valid YAML at line 2"),
        ("a: \x98\n", "character U\\+0098, which YAML does not allow"),
    ],
)
def test_yaml_refusals_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(DocumentError, match=words.replace("(", r"\(")) as raised:
        load_yaml_documents(text, what="The manifest", max_bytes=100_000)
    assert str(raised.value).startswith("The manifest ")


def test_documents_over_the_size_limit_are_refused_before_they_are_read() -> None:
    with pytest.raises(DocumentError, match="larger than 1 kB"):
        load_yaml_documents("a: " + "b" * 2_000, what="It", max_bytes=1_000)
    with pytest.raises(DocumentError, match="larger than 1 kB"):
        load_json(json.dumps("b" * 2_000), what="It", max_bytes=1_000)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested more than"),
        ("[NaN]", "not finite"),
        ("[1e999]", "not finite"),
        ("9" * 5_000, "too large to read"),
        ('{"a": "\\u0000"}', "NUL"),
    ],
)
def test_json_refusals_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(DocumentError, match=words):
        load_json(text, what="The body", max_bytes=1_000_000)


def test_messages_name_structures_and_cut_long_text() -> None:
    assert describe({"a": ["b"] * 1_000}) == "an object" and describe([1] * 1_000) == "a list"
    assert describe("x" * 1_000) == json.dumps("x" * 60 + "…", ensure_ascii=False)
    assert describe("2 cores") == '"2 cores"' and describe(-1) == "-1"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"metadata": {"labels": {"a\x00b": "c"}}}, "NUL character"),
        ({"spec": [["ok", "x\x00"]]}, "NUL character"),
        ({"note": "café \ud800"}, "unpaired surrogate"),
        ({"\udfff": 1}, "unpaired surrogate"),
        ({"spec": {"ratio": [1.0, float("inf")]}}, "not finite"),
        ({"spec": [float("nan")]}, "not finite"),
        ({"x": json.loads("[" * 70 + "]" * 70)}, "nested more than"),
    ],
)
def test_objects_already_parsed_are_checked_like_text(value: object, words: str) -> None:
    """Manifests sent as objects in a JSON body are checked as they are (keys included), not as text."""
    with pytest.raises(DocumentError, match=words):
        check_value(value, what="The manifest")


def test_text_in_any_language_and_finite_numbers_pass_the_check() -> None:
    check_value(
        {"name": "café-ünïcode-日本", "emoji": "🚀", "numbers": [0.5, -1, 10**30], "deep": [[[[]]]]},
        what="The manifest",
    )
