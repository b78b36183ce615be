"""The tests' TLS front (`conftest.TlsFront`) relays connections whatever their descriptor numbers:
late in a full test session the process has passed 1024 open descriptors, which `select.select`
refuses (ValueError), and every kubectl test after that point failed."""

from __future__ import annotations

import http.client
import os
import resource
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.policies.kubeapi.conftest import TlsFront

SELECT_LIMIT = 1024  # FD_SETSIZE: select() takes no descriptor from this number on
# Above the limit with room for the relay's own sockets (the accepted one, the upstream one).
FIRST_FREE = SELECT_LIMIT + 64


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"relayed"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: no request lines in the output
        pass


@pytest.fixture
def backend() -> Iterator[str]:
    """A plain-HTTP server the front relays to (the live server's stand-in)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def descriptors_past_select_limit() -> Iterator[None]:
    """Every descriptor below `FIRST_FREE` taken (the lowest free number is the next one given out),
    so the sockets opened from here on are numbered past what select() takes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FIRST_FREE + 256
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the process may open {hard} descriptors: too few to pass {SELECT_LIMIT}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held: list[int] = []
    try:
        while not held or held[-1] < FIRST_FREE:
            held.append(os.open(os.devnull, os.O_RDONLY))
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)
        if soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_front_relays_a_request_on_descriptors_past_1024(
    backend: str, descriptors_past_select_limit: None
) -> None:
    front = TlsFront(backend)
    try:
        context = ssl.create_default_context(cadata=front.certificate.ca_pem)
        port = int(front.url.rsplit(":", 1)[1])
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
        try:
            connection.request("GET", "/")
            assert connection.sock.fileno() >= SELECT_LIMIT
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b"relayed")
        finally:
            connection.close()
    finally:
        front.stop()
