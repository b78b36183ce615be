"""The link between the product and a member cluster (`Partition`) is a network: it closes
connections only when a test cuts it."""

from __future__ import annotations

from urllib.parse import urlsplit

from kubernetes import client as kube

from tests.fixtures.simulation import kube_api
from tests.workers.federation.partition import Partition

# Longer than the 5 s that bounds the link's connect to the cluster (that bound once stayed on the
# connection and cut every one quiet for 5 s: each informer watch ended "prematurely").
QUIET_WATCH_SECONDS = 7


def test_a_quiet_watch_through_the_link_lasts_until_the_server_ends_it(
    simulated_cluster, kube_client
) -> None:
    sim = simulated_cluster()
    link = Partition(urlsplit(sim.url).port or 0)
    try:
        api_client = kube_client(sim)
        api_client.configuration.host = link.url
        core = kube_api(kube.CoreV1Api, api_client)
        version = core.list_namespaced_config_map("default").metadata.resource_version
        # Nothing changes config maps here: the watch says nothing until the server ends it, as a
        # watch of a quiet kind does on kube-apiserver (which sends nothing meanwhile).
        response = core.list_namespaced_config_map(
            "default",
            watch=True,
            resource_version=version,
            timeout_seconds=QUIET_WATCH_SECONDS,
            _preload_content=False,
        )
        # Reading to the end raises ProtocolError ("Response ended prematurely") if the link cut the
        # connection before the server's last chunk.
        body = b"".join(response.stream(decode_content=False))
        assert body.strip() == b""
    finally:
        link.stop()
