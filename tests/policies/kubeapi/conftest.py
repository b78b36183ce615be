"""kubectl and the Python client against the endpoint served on loopback (pytest-django's live
server, streaming as gunicorn does), with the federation loop running passes in a thread, as a
worker would."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.db import connection
from django.test import Client
from kubernetes import client as kube
from pytest_django.live_server_helper import LiveServer

from clusters.kube import streams
from policies.kubeapi import operations
from simulator.resources import STORAGE_CLASSES
from simulator.tls import ServerCertificate, issue_server_certificate
from tests.policies.kubeapi.live_server import chunked_live_server
from workers.federation import run_pass

KUBECTL = "/usr/bin/kubectl"


class Kube:
    """The endpoint through Django's test client, with a bearer token (or none)."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path: str, **headers: Any) -> Any:
        return self.client.get(path, **self.headers, **headers)

    def send(self, method: str, path: str, body: Any, content_type: str = "application/json") -> Any:
        call = getattr(self.client, method)
        return call(path, data=json.dumps(body), content_type=content_type, **self.headers)


def kubeconfig(server: str, token: str, ca_pem: str) -> dict:
    ca = base64.b64encode(ca_pem.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "nodeless", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": "nodeless", "user": {"token": token}}],
        "contexts": [{"name": "nodeless", "context": {"cluster": "nodeless", "user": "nodeless"}}],
        "current-context": "nodeless",
    }


class TlsFront:
    """HTTPS in front of the live server, as the product is served: client-go sends a bearer
    token only over TLS. Each connection is relayed byte for byte to the plain-HTTP live server."""

    def __init__(self, backend: str) -> None:
        parts = urlsplit(backend)
        self.backend = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.certificate: ServerCertificate = issue_server_certificate("nodeless-test")
        self.context = self.certificate.server_context()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"https://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stopped = threading.Event()
        self.upstreams: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        """Both directions of one connection in this one thread: OpenSSL's connection object is not
        safe to read in one thread while another writes or closes it (two pumping threads crashed
        the test process with a segmentation fault while kubectl streamed a watch)."""
        try:
            secure = self.context.wrap_socket(client, server_side=True)
            upstream = socket.create_connection(self.backend)
        except OSError:
            client.close()
            return
        self.upstreams.append(upstream)
        try:
            streams.relay(secure, upstream)  # the product's relay: both directions in this one thread
        finally:
            with contextlib.suppress(OSError):
                secure.close()

    def stop(self) -> None:
        """End every relayed connection: watches still streaming to kubectl see their client go
        (at their next keep-alive) and end, releasing their database connections. Only the plain
        upstream sockets are shut from here (each relay thread closes its own TLS socket)."""
        self.stopped.set()
        self.listener.close()
        for upstream in self.upstreams:
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def shop(cast, policy) -> Kube:
    """Org A on the endpoint (test client), with a cheapest-first default policy and a ``shop``
    namespace."""
    policy("default", strategy="cheapest")
    kube = Kube(cast.token_a_plaintext)
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    assert kube.send("post", "/k8s/api/v1/namespaces", namespace).status_code == 201
    return kube


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """pytest-django's live server, streaming as gunicorn does (see `live_server.py`)."""
    server = chunked_live_server(request.config.getvalue("liveserver") or "localhost")
    yield server
    server.stop()


@pytest.fixture
def kube_server(live_server, monkeypatch) -> Iterator[TlsFront]:
    # A watch whose client went away ends at its second write after that (the first still goes
    # out), and it writes only every KEEPALIVE_SECONDS when nothing changes: with the product's 5 s,
    # each abandoned watch held its server thread and database session for ~10 s after the test.
    monkeypatch.setattr(operations, "KEEPALIVE_SECONDS", 0.2)
    front = TlsFront(live_server.url)
    yield front
    front.stop()
    # Wait (bounded) for the server's watch threads to notice and let go of the test database.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _other_sessions():
        time.sleep(0.2)


def _other_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


@pytest.fixture
def api(kube_server, cast) -> Iterator[kube.ApiClient]:
    """The official Python client on the endpoint, with org A's token."""
    configuration = kube.Configuration(host=f"{kube_server.url}/k8s")
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as ca:
        ca.write(kube_server.certificate.ca_pem)
    configuration.ssl_ca_cert = ca.name
    configuration.api_key = {"authorization": cast.token_a_plaintext}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    with kube.ApiClient(configuration) as api_client:
        yield api_client


@pytest.fixture
def kubectl(kube_server, cast, tmp_path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``kubectl("get", "deploy", token=...)``: org A's token unless another is given."""

    def run(*args: str, token: str | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        config = tmp_path / f"kubeconfig-{(token or cast.token_a_plaintext)[-6:]}"
        document = kubeconfig(
            f"{kube_server.url}/k8s", token or cast.token_a_plaintext, kube_server.certificate.ca_pem
        )
        config.write_text(yaml.safe_dump(document))
        command = [KUBECTL, f"--kubeconfig={config}", f"--cache-dir={tmp_path / 'cache'}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    return run


@pytest.fixture
def federation_loop(cast, worker) -> Iterator[None]:
    """Loop passes for org A every 0.2 s while the test runs (tasks the product enqueues are only
    recorded by ``worker``: this thread is the worker)."""
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                run_pass(str(cast.org_a.pk))
                stop.wait(0.2)
        finally:
            connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(30)


def write_manifests(directory: Path, documents: dict[str, dict]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, document in documents.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(document))
    return directory


def rolled_out(kubectl: Callable[..., Any], directory: Path, documents: dict[str, dict]) -> None:
    """``kubectl apply -f`` the documents (written to ``directory``), then ``rollout status`` of
    deployment/web in shop until it is done."""
    applied = kubectl("apply", "-f", str(write_manifests(directory, documents)))
    assert applied.returncode == 0, applied.stderr
    rolled = kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    assert rolled.returncode == 0, rolled.stderr


STORAGE_CLASS = "standard"


def add_storage_class(*members: Any) -> None:
    """What a member cluster brings for claims (an EKS cluster its EBS CSI class): a class that
    provisions a volume in the nodes' zone as soon as a claim names it."""
    for member in members:
        member.sim.api.create(
            STORAGE_CLASSES,
            "",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": STORAGE_CLASS},
                "provisioner": "ebs.csi.aws.com",
                "volumeBindingMode": "Immediate",
                "reclaimPolicy": "Delete",
            },
        )
