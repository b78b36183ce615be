import pytest

from simulator.api import ClusterApi
from simulator.api_support import DeleteOptions
from simulator.clock import ManualClock
from simulator.errors import ApiError
from simulator.listing import ListOptions
from simulator.resources import DEPLOYMENTS, NAMESPACES, PODS, REPLICASETS
from simulator.selectors import parse_field_selector, parse_label_selector
from simulator.store import ObjectStore


def pod(name, node="", labels=None):
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}], **({"nodeName": node} if node else {})},
    }


@pytest.fixture
def api():
    clock = ManualClock()
    return ClusterApi(ObjectStore(clock, event_log_size=5), clock)


def test_every_write_gets_a_new_cluster_wide_resource_version(api):
    first = api.create(PODS, "default", pod("a"))
    second = api.create(PODS, "default", pod("b"))
    updated = api.update(PODS, "default", "a", lambda p: p["metadata"].setdefault("labels", {}).update(x="1"))
    assert first.rv < second.rv < updated.rv
    assert updated.obj["metadata"]["resourceVersion"] == str(updated.rv)


def test_watch_resumes_after_a_resource_version(api):
    api.create(PODS, "default", pod("a"))
    resume_from = api.create(PODS, "default", pod("b")).rv
    api.create(PODS, "default", pod("c"))
    api.delete(PODS, "default", "a")
    watcher = api.store.watch(PODS, "default", since_rv=resume_from)
    events = [(kind, stored.obj["metadata"]["name"]) for kind, stored in watcher.next_batch(0)]
    assert events == [("ADDED", "c"), ("DELETED", "a")]


def test_watch_from_a_compacted_resource_version_is_gone(api):
    start = api.create(PODS, "default", pod("first")).rv
    for n in range(12):  # more than twice the log size of 5 forces compaction
        api.create(PODS, "default", pod(f"p{n}"))
    with pytest.raises(ApiError) as error:
        api.store.watch(PODS, "default", since_rv=start)
    assert error.value.code == 410


def test_watch_history_ends_where_etcd_would_have_compacted_it():
    """kube-apiserver serves watches only from what etcd has not compacted (every 5 minutes by
    default), however few events that is: a client away longer must relist."""
    clock = ManualClock()
    wall = [0.0]
    api = ClusterApi(ObjectStore(clock, event_log_seconds=300.0, monotonic=lambda: wall[0]), clock)
    before = api.create(PODS, "default", pod("before")).rv
    api.create(PODS, "default", pod("old"))
    wall[0] = 400.0
    recent = api.create(PODS, "default", pod("recent")).rv
    assert len(api.store.watch(PODS, "default", since_rv=before).next_batch(0)) == 2
    wall[0] = 650.0  # the oldest event is now more than twice the window old
    api.create(PODS, "default", pod("newest"))
    with pytest.raises(ApiError) as error:
        api.store.watch(PODS, "default", since_rv=before)
    assert error.value.code == 410
    resumed = api.store.watch(PODS, "default", since_rv=recent).next_batch(0)
    assert [stored.obj["metadata"]["name"] for _, stored in resumed] == ["newest"]


def test_watch_without_a_resource_version_starts_with_the_current_objects(api):
    api.create(PODS, "default", pod("a"))
    api.create(PODS, "kube-system", pod("b"))
    watcher = api.store.watch(PODS, "default")
    assert [(k, s.obj["metadata"]["name"]) for k, s in watcher.next_batch(0)] == [("ADDED", "a")]


def test_an_object_leaving_a_watch_selector_is_reported_deleted(api):
    api.create(PODS, "default", pod("a", labels={"app": "web"}))
    watcher = api.store.watch(PODS, "default", labels=parse_label_selector("app=web"), since_rv=api.store.rv)
    api.update(PODS, "default", "a", lambda p: p["metadata"]["labels"].update(app="db"))
    api.update(PODS, "default", "a", lambda p: p["metadata"]["labels"].update(app="web"))
    assert [kind for kind, _ in watcher.next_batch(0)] == ["DELETED", "ADDED"]


def test_field_index_lists_pods_of_a_node(api):
    api.create(PODS, "default", pod("a", node="n1"))
    api.create(PODS, "default", pod("b", node="n2"))
    api.create(PODS, "kube-system", pod("c", node="n1"))
    listed = api.list_page(PODS, None, fields=parse_field_selector("spec.nodeName=n1")).items
    assert sorted(s.obj["metadata"]["name"] for s in listed) == ["a", "c"]


def test_an_exact_list_through_a_field_index_sees_the_pods_of_that_version(api):
    # The index holds today's pods of n1; the snapshot also needs the pod deleted since and
    # the one that moved to another node, and not the one that arrived.
    api.create(PODS, "default", pod("stays", node="n1"))
    api.create(PODS, "default", pod("deleted", node="n1"))
    api.create(PODS, "default", pod("unbound", labels={"x": "1"}))
    then = api.store.rv
    api.delete(PODS, "default", "deleted", DeleteOptions(grace_period_seconds=0))
    api.create(PODS, "default", pod("arrived", node="n1"))
    api.update(PODS, "default", "unbound", lambda p: p["metadata"]["labels"].update(x="2"))
    snapshot = api.list_page(
        PODS,
        "default",
        fields=parse_field_selector("spec.nodeName=n1"),
        options=ListOptions(resource_version=str(then), match="Exact"),
    )
    assert [s.obj["metadata"]["name"] for s in snapshot.items] == ["deleted", "stays"]
    assert snapshot.resource_version == then
    labelled = api.list_page(
        PODS,
        "default",
        parse_label_selector("x=1"),
        options=ListOptions(resource_version=str(then), match="Exact"),
    )
    assert [s.obj["metadata"]["name"] for s in labelled.items] == ["unbound"]


def test_pages_cover_every_object_once(api):
    for n in range(7):
        api.create(PODS, "default", pod(f"p{n}"))
    names, token = [], ""
    while True:
        page = api.list_page(PODS, "default", limit=3, continue_token=token)
        names += [s.obj["metadata"]["name"] for s in page.items]
        token = page.continue_token
        if not token:
            break
    assert names == sorted(f"p{n}" for n in range(7))


def test_deleting_an_owner_deletes_its_dependents(api):
    owner = api.create(
        REPLICASETS,
        "default",
        {
            "metadata": {"name": "rs"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        },
    ).obj
    child = pod("child")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner["metadata"]["uid"]}
    ]
    api.create(PODS, "default", child)
    api.delete(REPLICASETS, "default", "rs")
    assert api.store.try_get(PODS, "default", "child") is None


def test_orphan_propagation_keeps_dependents_without_the_owner_reference(api):
    owner = api.create(
        DEPLOYMENTS,
        "default",
        {
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        },
    ).obj
    child = pod("child")
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": owner["metadata"]["uid"]}
    ]
    api.create(PODS, "default", child)
    api.delete(DEPLOYMENTS, "default", "d", DeleteOptions(propagation_policy="Orphan"))
    assert api.get(PODS, "default", "child").obj["metadata"]["ownerReferences"] == []


def test_finalizers_hold_deletion_until_removed(api):
    held = pod("held")
    held["metadata"]["finalizers"] = ["example.com/cleanup"]
    api.create(PODS, "default", held)
    api.delete(PODS, "default", "held")
    assert api.get(PODS, "default", "held").obj["metadata"]["deletionTimestamp"]
    api.update(PODS, "default", "held", lambda p: p["metadata"].update(finalizers=[]))
    assert api.store.try_get(PODS, "default", "held") is None


def test_deleting_a_namespace_deletes_its_contents(api):
    api.create(NAMESPACES, "", {"metadata": {"name": "team"}})
    api.create(PODS, "team", pod("a"))
    api.delete(NAMESPACES, "", "team")
    assert api.store.try_get(PODS, "team", "a") is None
    with pytest.raises(ApiError) as error:
        api.create(PODS, "team", pod("b"))
    assert error.value.code == 404
