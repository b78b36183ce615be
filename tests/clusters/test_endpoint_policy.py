"""The network policy for cluster endpoints, and one error text for every way of not reaching one.

Sign-up is open: whoever connects a cluster chooses the address we call. Production refuses our own
host and link-local addresses (the instance metadata service), and no failure below HTTP tells a
refused port from a silent one, a TLS service from a plain one, or a name that does not resolve.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
from collections.abc import Iterator

import pytest

from clusters.kube.endpoints import EndpointNotAllowed, check_endpoint, network_of
from clusters.models import Cluster
from tests.fixtures.connections import kubeconfig_for

PRODUCTION = frozenset({"public", "private"})


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("8.8.8.8", "public"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT, where some VPNs put clusters
        ("fd12:3456::1", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # an IPv4-mapped address is judged as the IPv4 one
        ("169.254.169.254", "link-local"),  # the EC2, GCP and Azure metadata service
        ("fd00:ec2::254", "link-local"),  # EC2's IPv6 metadata service, in ULA space
        ("fe80::1", "link-local"),
        ("0.0.0.0", "never"),
        ("224.0.0.1", "never"),
    ],
)
def test_every_address_falls_in_one_network(address: str, network: str) -> None:
    assert network_of(ipaddress.ip_address(address)) == network


def test_production_refuses_loopback_and_metadata_and_says_which_setting_allows_more() -> None:
    for server, network in (
        ("https://127.0.0.1:6443", "loopback"),
        ("https://169.254.169.254", "link-local"),
    ):
        with pytest.raises(EndpointNotAllowed, match=f"at a {network} address.*NODELESS_CLUSTER_NETWORKS"):
            check_endpoint(server, PRODUCTION)
    with pytest.raises(EndpointNotAllowed, match="not at an address an API server can have"):
        check_endpoint("https://0.0.0.0:6443", PRODUCTION | {"loopback"})
    check_endpoint("https://10.0.0.5:6443", PRODUCTION)  # self-hosted installs reach on-prem clusters


@pytest.mark.django_db
def test_a_kubeconfig_pointing_at_the_metadata_service_is_refused_before_any_call(
    cast, owner_client, simulated_cluster, settings, worker
) -> None:
    settings.NODELESS_CLUSTER_NETWORKS = PRODUCTION
    onprem = simulated_cluster()
    for index, server in enumerate(("https://169.254.169.254", onprem.url)):
        body = _connected(owner_client, worker, kubeconfig_for(onprem, server=server), f"dc{index}")
        assert body["status"] == "failed" and "NODELESS_CLUSTER_NETWORKS" in body["health_problem"], body
    assert not Cluster.objects.filter(status="connected").exists()


def _connected(client, worker, kubeconfig: str, name: str) -> dict:
    """Connect, let the worker verify the cluster (where the policy applies), and read it back."""
    with worker.committing():
        response = client.post(
            "/api/v1/clusters/", {"name": name, "kubeconfig": kubeconfig}, content_type="application/json"
        )
    assert response.status_code == 202, response.json()
    worker.run()
    body: dict = client.get(response["Location"]).json()
    return body


@pytest.fixture
def unfriendly_ports() -> Iterator[dict[str, str]]:
    """A closed port, a port that accepts and never speaks, and a plain-HTTP server."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    yield {
        "refused": f"https://127.0.0.1:{closed_port}",
        "silent": f"https://127.0.0.1:{silent.getsockname()[1]}",
        "plain HTTP": f"https://127.0.0.1:{plain.server_address[1]}",
        "unresolvable": "https://no-such-host.invalid:6443",
    }
    silent.close()
    plain.shutdown()


@pytest.mark.django_db
def test_no_failure_below_http_tells_what_is_at_the_address(
    cast, owner_client, simulated_cluster, unfriendly_ports, worker
) -> None:
    onprem = simulated_cluster()
    other_ca = simulated_cluster().ca_pem
    servers = {**unfriendly_ports, "TLS with another CA": onprem.url}
    texts = {}
    for index, (what, server) in enumerate(servers.items()):
        kubeconfig = kubeconfig_for(
            onprem, server=server, ca_pem=other_ca if what.startswith("TLS") else None
        )
        body = _connected(owner_client, worker, kubeconfig, f"dc{index}")
        assert body["status"] == "failed", what
        texts[what] = body["health_problem"].replace(server, "SERVER")
    assert len(set(texts.values())) == 1, texts
    assert "no Kubernetes API server answered at SERVER" in texts["refused"]
