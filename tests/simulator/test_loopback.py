"""The loopback servers behind the simulated API servers and cloud endpoints answer as Go's net/http
does (kube-apiserver, AWS's fronts): with Nagle's algorithm off on every connection (Go's default,
``net.TCPConn.SetNoDelay(true)``). With it on, a response written as headers then body waited for
the client's delayed ACK, about 40 ms on every call, which no real member adds."""

from __future__ import annotations

import http.client
import socket
from http.server import BaseHTTPRequestHandler

from simulator.loopback import LoopbackServer


class _ReportsNoDelay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = str(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_every_connection_has_nagle_off() -> None:
    server = LoopbackServer(_ReportsNoDelay)
    server.start("test-loopback")
    try:
        for _ in range(2):  # two connections, two requests on each (keep-alive)
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                for _ in range(2):
                    connection.request("GET", "/")
                    response = connection.getresponse()
                    assert response.status == 200
                    assert response.read() != b"0"
            finally:
                connection.close()
    finally:
        server.stop()
