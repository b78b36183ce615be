"""An informer lists once, then follows watch events; it lists again on 410 Gone and asks for the
cluster's client afresh on every cycle (a refreshed EKS token is picked up)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from clusters.kube.api import ClusterRefused, ClusterUnreachable, Gone
from clusters.observation import informers
from clusters.observation.informers import ClusterInformer, InformerRegistry
from tests.fixtures.simulation import wait_for


def _pod(name: str, rv: str, node: str = "") -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": name, "resourceVersion": rv}, "spec": {"nodeName": node}}


class FakeApi:
    """Serves a scripted list and watch per kind; each watch call takes the next script."""

    def __init__(self, lists: dict[str, list[dict[str, Any]]], watches: dict[str, list[Any]]) -> None:
        self.lists, self.watches = lists, watches
        self.list_calls: dict[str, int] = {"Pod": 0, "Node": 0}
        self.watched_from: list[tuple[str, str]] = []
        self.selectors: list[tuple[str, str]] = []  # (kind, label selector) of lists and watches
        self.idle = threading.Event()

    def pages(self, kind: str, label_selector: str = "") -> Iterator[dict[str, Any]]:
        self.selectors.append((kind, label_selector))
        self.list_calls[kind] = self.list_calls.get(kind, 0) + 1
        yield {"items": self.lists[kind], "metadata": {"resourceVersion": "10"}}

    def watch(
        self, kind: str, *, resource_version: str, timeout_seconds: int, label_selector: str = ""
    ) -> Iterator[tuple[str, dict]]:
        self.selectors.append((kind, label_selector))
        self.watched_from.append((kind, resource_version))
        script = self.watches[kind]
        if not script:
            self.idle.wait(0.05)  # nothing more to say: an idle watch that ends
            return
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        yield from step


def test_events_after_the_list_are_applied_and_the_watch_resumes_where_it_ended() -> None:
    api = FakeApi(
        {"Pod": [_pod("a", "5")], "Node": []},
        {
            "Pod": [
                [("ADDED", _pod("b", "11")), ("MODIFIED", _pod("a", "12", node="n1"))],
                [("DELETED", _pod("b", "13"))],
            ],
            "Node": [],
        },
    )
    informer = ClusterInformer("c", lambda: api)  # type: ignore[arg-type, return-value]
    informer.start()
    try:
        assert informer.wait_synced(5)
        wait_for(lambda: ("Pod", "13") in api.watched_from or len(api.watched_from) > 4)
        wait_for(lambda: [pod.name for pod in informer.snapshot()[0]] == ["a"])
        (pod,) = informer.snapshot()[0]
        assert pod.node_name == "n1"
        assert ("Pod", "10") in api.watched_from and ("Pod", "12") in api.watched_from
        assert api.list_calls["Pod"] == 1
    finally:
        informer.stop()


def test_410_gone_lists_again_and_a_failed_cycle_asks_for_a_new_client() -> None:
    api = FakeApi({"Pod": [_pod("a", "5")], "Node": []}, {"Pod": [Gone(410, "too old")], "Node": []})
    clients = []

    def client() -> FakeApi:
        clients.append(api)
        return api

    informer = ClusterInformer("c", client)  # type: ignore[arg-type]
    informer.start()
    try:
        wait_for(lambda: api.list_calls["Pod"] == 2)
        assert len(clients) >= 3  # every cycle of both resources asked afresh
    finally:
        informer.stop()


def test_an_unreachable_cluster_says_why_and_is_not_synced() -> None:
    class Down(FakeApi):
        def pages(self, kind: str, label_selector: str = "") -> Iterator[dict[str, Any]]:
            raise ClusterUnreachable("cannot connect to https://10.0.0.1: connection refused")

    informer = ClusterInformer("c", lambda: Down({}, {}))  # type: ignore[arg-type, return-value]
    informer.start()
    try:
        assert not informer.wait_synced(0.3)
        wait_for(lambda: "connection refused" in informer.problem)
    finally:
        informer.stop()


def test_the_registry_replaces_an_informer_when_the_connection_changes() -> None:
    registry = InformerRegistry()
    api = FakeApi({"Pod": [], "Node": []}, {"Pod": [], "Node": []})
    try:
        first = registry.get("c1", "fingerprint-1", "c1", lambda: api)  # type: ignore[arg-type, return-value]
        assert registry.get("c1", "fingerprint-1", "c1", lambda: api) is first  # type: ignore[arg-type, return-value]
        second = registry.get("c1", "fingerprint-2", "c1", lambda: api)  # type: ignore[arg-type, return-value]
        assert second is not first and first.stopped and not second.stopped
    finally:
        registry.stop_all()


def test_the_registry_stops_an_informer_not_read_for_a_while_looking_at_most_every_few_seconds() -> None:
    registry = InformerRegistry()
    api = FakeApi({"Pod": [], "Node": []}, {"Pod": [], "Node": []})
    try:
        idle = registry.get("c1", "f", "c1", lambda: api)  # type: ignore[arg-type, return-value]
        busy = registry.get("c2", "f", "c2", lambda: api)  # type: ignore[arg-type, return-value]
        idle.last_read = time.monotonic() - informers.IDLE_SECONDS - 1
        registry.get("c2", "f", "c2", lambda: api)  # type: ignore[arg-type, return-value]
        assert not idle.stopped  # looked a moment ago: not on every get
        registry._reaped_at -= informers.REAP_SECONDS
        assert registry.get("c2", "f", "c2", lambda: api) is busy  # type: ignore[arg-type, return-value]
        assert [informer.stopped for informer in (idle, busy)] == [True, False]
    finally:
        registry.stop_all()


class _StorageApi(FakeApi):
    """Like FakeApi, for the storage kinds too; `refuse` kinds answer 403 to their list."""

    def __init__(self, lists: dict[str, list[dict[str, Any]]], refuse: tuple[str, ...] = ()) -> None:
        super().__init__(lists, {kind: [] for kind in lists})
        self.list_calls = dict.fromkeys(lists, 0)
        self.refuse = refuse

    def pages(self, kind: str, label_selector: str = "") -> Iterator[dict[str, Any]]:
        if kind in self.refuse:
            raise ClusterRefused(403, f"{kind} is forbidden")
        yield from super().pages(kind, label_selector)


def _storage_lists() -> dict[str, list[dict[str, Any]]]:
    claim = {
        "metadata": {"name": "data", "namespace": "db", "resourceVersion": "3"},
        "spec": {"volumeName": "pv-1"},
    }
    term = {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z-b"]}]}
    volume = {
        "metadata": {"name": "pv-1"},
        "spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [term]}}},
    }
    csi = {
        "metadata": {"name": "n1"},
        "spec": {"drivers": [{"name": "ebs.csi.aws.com", "allocatable": {"count": 3}}]},
    }
    return {
        "Pod": [],
        "Node": [],
        "PersistentVolumeClaim": [claim],
        "PersistentVolume": [volume],
        "StorageClass": [],
        "CSINode": [csi],
    }


def test_storage_is_watched_only_once_asked_for_and_read_from_the_watch() -> None:
    api = _StorageApi(_storage_lists())
    informer = ClusterInformer("c", lambda: api)  # type: ignore[arg-type, return-value]
    informer.start()
    try:
        assert informer.wait_synced(5)
        assert api.list_calls["PersistentVolumeClaim"] == 0  # pods and nodes only, until a pass needs volumes
        state = informer.storage(5)
        assert state is not None
        assert state.zones("db", ["data"]) == frozenset({"z-b"})
        assert state.zones("other", ["data"]) is None  # a claim of another namespace is not this one
        assert state.attach_room({"n1": ["db/data", "db/data"], "n2": ["db/x"]}) == {"n1": 2}
        assert informer.storage(5) is not None and api.list_calls["PersistentVolume"] == 1
    finally:
        informer.stop()


def test_storage_that_may_not_be_listed_is_none_at_once_so_the_pass_reads_directly() -> None:
    api = _StorageApi(_storage_lists(), refuse=("CSINode",))
    informer = ClusterInformer("c", lambda: api)  # type: ignore[arg-type, return-value]
    informer.start()
    try:
        assert informer.storage(30) is None
        assert informer.problem == ""  # pods and nodes are watched as before
    finally:
        informer.stop()


def test_a_watch_cut_mid_stream_resumes_from_the_version_held_without_a_problem() -> None:
    from clusters.kube.api import WatchBroken

    def cut_after(event: tuple[str, dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        yield event
        raise WatchBroken("the watch of Pod from https://lb broke off mid-stream (ProtocolError)")

    api = FakeApi(
        {"Pod": [_pod("a", "5")], "Node": []},
        {
            "Pod": [cut_after(("ADDED", _pod("b", "11"))), [("MODIFIED", _pod("b", "12", node="n1"))]],
            "Node": [],
        },
    )
    informer = ClusterInformer("c", lambda: api)  # type: ignore[arg-type, return-value]
    informer.start()
    try:
        wait_for(lambda: ("Pod", "12") in api.watched_from or ("Pod", "11") in api.watched_from)
        wait_for(lambda: {pod.name: pod.node_name for pod in informer.snapshot()[0]}.get("b") == "n1")
        assert ("Pod", "11") in api.watched_from  # resumed where the cut stream was
        assert api.list_calls["Pod"] == 1 and informer.problem == ""
    finally:
        informer.stop()


def _deployment(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop", "resourceVersion": rv, "labels": {"ours": "1"}}}


def test_labelled_objects_are_listed_and_watched_by_their_selector_once_first_asked_for() -> None:
    api = FakeApi(
        {"Pod": [], "Node": [], "Deployment": [_deployment("web", "5")]},
        {"Pod": [], "Node": [], "Deployment": [[("ADDED", _deployment("api", "11"))]]},
    )
    informer = ClusterInformer("c", lambda: api)  # type: ignore[arg-type, return-value]
    informer.start()
    try:
        assert informer.wait_synced(5)
        assert not any(kind == "Deployment" for kind, _ in api.selectors)  # not before it is asked for
        first = informer.labelled("Deployment", "ours", timeout=5)
        assert first is not None and {obj["metadata"]["name"] for obj in first} <= {"web", "api"}
        wait_for(
            lambda: (
                {o["metadata"]["name"] for o in informer.labelled("Deployment", "ours", 5) or []}
                == {"web", "api"}
            )
        )
        assert {selector for kind, selector in api.selectors if kind == "Deployment"} == {"ours"}
        assert api.list_calls["Deployment"] == 1
    finally:
        informer.stop()


def test_labelled_objects_whose_watch_fails_are_none_so_the_reader_lists_them() -> None:
    class Refusing(FakeApi):
        def pages(self, kind: str, label_selector: str = "") -> Iterator[dict[str, Any]]:
            if kind == "Deployment":
                raise ClusterRefused(403, "deployments is forbidden")
            return super().pages(kind, label_selector)

    api = Refusing({"Pod": [], "Node": []}, {"Pod": [], "Node": [], "Deployment": []})
    informer = ClusterInformer("c", lambda: api)  # type: ignore[arg-type, return-value]
    informer.start()
    try:
        assert informer.labelled("Deployment", "ours", timeout=0.5) is None
    finally:
        informer.stop()
