"""Resource versions as kube-apiserver handles them, driven by the official client over HTTPS.

The rules: https://kubernetes.io/docs/reference/using-api/api-concepts/ ("Resource versions",
"Efficient detection of changes", "Watch bookmarks", "Streaming lists", "Retrieving large results
sets in chunks"), and for the exact answers apimachinery's ValidateListOptions, the watch cache
(`too old resource version: N (M)`, an ERROR event) and etcd3's list errors.
"""

import json
from typing import Any

import pytest
from kubernetes import client, watch

from tests.fixtures.simulation import kube_api
from tests.simulator.test_conformance import pod_manifest, status_body

EXPIRED_CONTINUE = "The provided continue parameter is too old to display a consistent list result."


@pytest.fixture
def cluster(simulated_cluster):
    # No controllers, a small watch history (compaction after 2 x 5 events of a resource) and a
    # bookmark every 0.2 s, so that the tests see compaction and bookmarks quickly.
    return simulated_cluster(run_controllers=False, event_log_size=5, bookmark_interval=0.2)


@pytest.fixture
def core(cluster, kube_client):
    return kube_api(client.CoreV1Api, kube_client(cluster))


def raw_watch(core, **params: Any) -> tuple[int, list[dict[str, Any]]]:
    """Every event of a pod watch in "default" that ends after `timeout_seconds`, undecoded."""
    response = core.list_namespaced_pod("default", watch=True, _preload_content=False, **params)
    try:
        lines = response.data.decode().splitlines()
    finally:
        response.release_conn()
    return response.status, [json.loads(line) for line in lines if line.strip()]


def churn(core, count: int = 12) -> None:
    """More pod changes than the watch history keeps: older versions are compacted away."""
    for n in range(count):
        core.create_namespaced_pod("default", pod_manifest(f"churn-{n}"))


def test_an_update_that_changes_nothing_keeps_the_version_and_sends_no_event(core):
    # etcd3's GuaranteedUpdate stores nothing when the new object equals the stored one: the
    # resourceVersion stays and no watch event is sent.
    created = core.create_namespaced_pod("default", pod_manifest("same", {"app": "a"}))
    version = created.metadata.resource_version
    patched = core.patch_namespaced_pod("same", "default", {"metadata": {"labels": {"app": "a"}}})
    replaced = core.replace_namespaced_pod("same", "default", patched)
    assert patched.metadata.resource_version == replaced.metadata.resource_version == version
    core.patch_namespaced_pod("same", "default", {"metadata": {"labels": {"app": "b"}}})
    events = watch.Watch().stream(
        core.list_namespaced_pod, "default", resource_version=version, timeout_seconds=1
    )
    assert [(e["type"], e["object"].metadata.labels["app"]) for e in events] == [("MODIFIED", "b")]


def test_an_exact_list_reads_the_objects_as_they_were_at_that_version(core):
    core.create_namespaced_pod("default", pod_manifest("kept", {"v": "1"}))
    core.create_namespaced_pod("default", pod_manifest("deleted"))
    then = core.list_namespaced_pod("default").metadata.resource_version
    core.patch_namespaced_pod("kept", "default", {"metadata": {"labels": {"v": "2"}}})
    core.delete_namespaced_pod("deleted", "default")
    core.create_namespaced_pod("default", pod_manifest("added"))

    exact = core.list_namespaced_pod("default", resource_version=then, resource_version_match="Exact")
    assert exact.metadata.resource_version == then
    assert [(p.metadata.name, p.metadata.labels.get("v")) for p in exact.items] == [
        ("deleted", None),
        ("kept", "1"),
    ]
    # NotOlderThan (and a bare resourceVersion) may answer with anything newer: the latest here.
    newer = core.list_namespaced_pod("default", resource_version=then, resource_version_match="NotOlderThan")
    assert [p.metadata.name for p in newer.items] == ["added", "kept"]
    assert int(newer.metadata.resource_version) > int(then)


def test_a_version_the_server_has_not_reached_is_a_timeout(core):
    # storage.NewTooLargeResourceVersionError: 504 Timeout, cause ResourceVersionTooLarge.
    current = int(core.list_namespaced_pod("default").metadata.resource_version)
    with pytest.raises(client.ApiException) as error:
        core.list_namespaced_pod("default", resource_version=str(current + 100))
    body = status_body(error.value)
    assert (error.value.status, body["reason"]) == (504, "Timeout")
    assert body["details"]["causes"] == [
        {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
    ]


def test_an_exact_list_of_a_compacted_version_is_gone(core):
    then = core.create_namespaced_pod("default", pod_manifest("old")).metadata.resource_version
    churn(core)
    with pytest.raises(client.ApiException) as error:
        core.list_namespaced_pod("default", resource_version=then, resource_version_match="Exact")
    body = status_body(error.value)
    assert (error.value.status, body["kind"], body["reason"]) == (410, "Status", "Expired")
    assert body["message"] == "The resourceVersion for the provided list is too old."


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"resource_version_match": "Exact"},
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            {"resource_version": "0", "resource_version_match": "Exact"},
            'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ),
        (
            {"send_initial_events": True},
            "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
        ),
    ],
)
def test_list_options_are_validated_as_the_api_server_does(core, params, message):
    with pytest.raises(client.ApiException) as error:
        core.list_namespaced_pod("default", **params)
    body = status_body(error.value)
    assert (error.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'
    assert body["details"]["causes"][0]["reason"] == "FieldValueForbidden"


def test_a_watch_from_a_compacted_version_ends_with_an_expired_error_event(core):
    # The watch cache answers 200 and one ERROR event carrying a 410 Expired Status; clients
    # (client-go's reflector, the product's informers) list again and watch from the new list.
    then = core.create_namespaced_pod("default", pod_manifest("old")).metadata.resource_version
    churn(core)
    status, events = raw_watch(core, resource_version=then, timeout_seconds=1)
    assert status == 200 and [e["type"] for e in events] == ["ERROR"]
    error = events[0]["object"]
    assert (error["kind"], error["code"], error["reason"]) == ("Status", 410, "Expired")
    assert error["message"].startswith(f"too old resource version: {then} (")
    with pytest.raises(client.ApiException) as raised:  # what the official client makes of it
        list(
            watch.Watch().stream(
                core.list_namespaced_pod, "default", resource_version=then, timeout_seconds=1
            )
        )
    assert raised.value.status == 410

    fresh = core.list_namespaced_pod("default").metadata.resource_version
    core.create_namespaced_pod("default", pod_manifest("after"))
    resumed = watch.Watch().stream(
        core.list_namespaced_pod, "default", resource_version=fresh, timeout_seconds=1
    )
    assert [(e["type"], e["object"].metadata.name) for e in resumed] == [("ADDED", "after")]


def test_bookmarks_carry_the_current_version_and_no_object(core, cluster):
    start = core.create_namespaced_pod("default", pod_manifest("watched")).metadata.resource_version
    # A change to another resource moves the cluster's version: a bookmark reports it, so a
    # client resuming from the bookmark skips nothing and replays nothing.
    other = core.create_namespaced_config_map("default", {"metadata": {"name": "elsewhere"}})
    status, events = raw_watch(core, resource_version=start, allow_watch_bookmarks=True, timeout_seconds=1)
    assert status == 200 and events and {e["type"] for e in events} == {"BOOKMARK"}
    for event in events:
        assert event["object"] == {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": event["object"]["metadata"]["resourceVersion"]},
        }
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= int(other.metadata.resource_version)
    # Without allowWatchBookmarks there are none.
    assert raw_watch(core, resource_version=start, timeout_seconds=1)[1] == []


def test_send_initial_events_ends_the_initial_state_with_an_annotated_bookmark(core):
    core.create_namespaced_pod("default", pod_manifest("a"))
    core.create_namespaced_pod("default", pod_manifest("b"))
    listed = core.list_namespaced_pod("default").metadata.resource_version
    status, events = raw_watch(
        core,
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        timeout_seconds=1,
    )
    assert status == 200
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events[:3]] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("BOOKMARK", None),
    ]
    end = events[2]["object"]["metadata"]
    assert end == {"resourceVersion": listed, "annotations": {"k8s.io/initial-events-end": "true"}}
    # Only the first bookmark marks the end of the initial events.
    assert all("annotations" not in e["object"]["metadata"] for e in events[3:])
    # validateWatchOptions: sendInitialEvents needs resourceVersionMatch=NotOlderThan.
    with pytest.raises(client.ApiException) as error:
        raw_watch(core, send_initial_events=True, allow_watch_bookmarks=True, timeout_seconds=1)
    assert error.value.status == 422
    assert (
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        in status_body(error.value)["message"]
    )


def test_pages_are_a_snapshot_at_the_first_page_version(core):
    for name in ("p1", "p2", "p3", "p4"):
        core.create_namespaced_pod("default", pod_manifest(name, {"v": "1"}))
    first = core.list_namespaced_pod("default", limit=2)
    assert [p.metadata.name for p in first.items] == ["p1", "p2"]
    # Changes between pages are not seen by the rest of the list (etcd reads the first page's
    # revision), and every page reports that revision.
    core.delete_namespaced_pod("p3", "default")
    core.create_namespaced_pod("default", pod_manifest("p25"))
    core.patch_namespaced_pod("p4", "default", {"metadata": {"labels": {"v": "2"}}})
    rest = core.list_namespaced_pod("default", limit=10, _continue=first.metadata._continue)
    assert [(p.metadata.name, p.metadata.labels["v"]) for p in rest.items] == [("p3", "1"), ("p4", "1")]
    assert rest.metadata.resource_version == first.metadata.resource_version
    assert not rest.metadata._continue


def test_every_page_reports_the_first_page_version_whatever_else_changed(core):
    for name in ("p1", "p2"):
        core.create_namespaced_pod("default", pod_manifest(name))
    first = core.list_namespaced_pod("default", limit=1)
    core.create_namespaced_config_map("default", {"metadata": {"name": "elsewhere"}})
    rest = core.list_namespaced_pod("default", limit=1, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["p2"]
    assert rest.metadata.resource_version == first.metadata.resource_version


def test_an_expired_continue_token_is_gone_with_a_token_to_go_on(core):
    for name in ("p1", "p2", "p3"):
        core.create_namespaced_pod("default", pod_manifest(name))
    first = core.list_namespaced_pod("default", limit=1)
    churn(core)
    core.create_namespaced_pod("default", pod_manifest("p4"))
    with pytest.raises(client.ApiException) as error:
        core.list_namespaced_pod("default", limit=2, _continue=first.metadata._continue)
    body = status_body(error.value)
    assert (error.value.status, body["reason"]) == (410, "Expired")
    assert body["message"].startswith(EXPIRED_CONTINUE)
    # The Status carries a continue token that goes on at the latest version (inconsistently).
    fresh_token = body["metadata"]["continue"]
    rest = core.list_namespaced_pod("default", limit=100, _continue=fresh_token)
    assert [p.metadata.name for p in rest.items] == ["p2", "p3", "p4"]
    assert int(rest.metadata.resource_version) > int(first.metadata.resource_version)
    with pytest.raises(client.ApiException) as both:
        core.list_namespaced_pod("default", limit=1, _continue=fresh_token, resource_version="5")
    assert both.value.status == 400
