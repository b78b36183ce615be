"""A watch the network cuts while it streams is a broken watch, not an unreachable cluster: the
API client says so (``WatchBroken``), and the informer watches again from where it was."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
from kubernetes import client as kube

from clusters.kube.api import ClusterApi, WatchBroken
from clusters.observation.informers import ClusterInformer
from tests.fixtures.simulation import kube_api, wait_for
from tests.workers.federation.partition import Partition


def test_a_watch_cut_while_streaming_raises_watch_broken(simulated_cluster, kube_client) -> None:
    sim = simulated_cluster()
    link = Partition(urlsplit(sim.url).port or 0)
    try:
        api_client = kube_client(sim)
        api_client.configuration.host = link.url
        api = ClusterApi(api_client)
        core = kube_api(kube.CoreV1Api, kube_client(sim))
        version = core.list_namespaced_config_map("default").metadata.resource_version
        seen: list[str] = []
        outcome: list[BaseException] = []

        def follow() -> None:
            try:
                for _, obj in api.watch("ConfigMap", resource_version=version, timeout_seconds=60):
                    seen.append(obj["metadata"]["name"])
            except BaseException as error:
                outcome.append(error)

        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()
        core.create_namespaced_config_map("default", {"metadata": {"name": "first"}, "data": {}})
        wait_for(lambda: seen == ["first"])
        link.cut()
        watcher.join(timeout=30)
        assert outcome and isinstance(outcome[0], WatchBroken), outcome
        assert "broke off mid-stream" in str(outcome[0])
    finally:
        link.stop()


pytestmark = pytest.mark.django_db


def test_an_informer_whose_watch_broke_has_not_heard_from_its_cluster(simulated_cluster, kube_client) -> None:
    """What a stream delivered before it broke proves nothing about the cluster now: the federation
    look asks it again (``workers.federation.observe.HEARD_SECONDS``)."""
    sim = simulated_cluster()
    link = Partition(urlsplit(sim.url).port or 0)
    informer = None
    try:
        api_client = kube_client(sim)
        api_client.configuration.host = link.url
        informer = ClusterInformer("cut", lambda: ClusterApi(api_client))
        informer.start()
        assert informer.wait_synced(30)
        assert informer.heard_within(600)  # its lists came in just now

        link.cut()

        wait_for(lambda: not informer.heard_within(600))
    finally:
        if informer is not None:
            informer.stop()
        link.stop()
