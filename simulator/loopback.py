"""A threaded HTTP server on 127.0.0.1 with an ephemeral port that stops cleanly.

One thread per connection (stdlib `ThreadingHTTPServer`). TLS handshakes run in the connection's
thread, so a slow client never blocks the accept loop. `stop()` stops accepting, shuts every open
connection down and joins the threads, so tests leak neither threads nor ports. Used by the
simulated API servers and by the cloud gateway.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_SECONDS = 5.0


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, handler_class: type[BaseHTTPRequestHandler], ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.ssl_context = ssl_context
        self.stopping = False
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._connection_threads: set[threading.Thread] = set()
        self._serve_thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", 0), handler_class)

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    def get_request(self) -> tuple[Any, Any]:
        connection, address = self.socket.accept()
        # As Go's net/http (kube-apiserver, the AWS endpoints' fronts): no Nagle delay, or a response
        # written as headers then body waits for the client's delayed ACK (~40 ms) on every call.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            connection = self.ssl_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="sim-http-conn", daemon=True
        )
        with self._lock:
            self._connections.add(request)
            self._connection_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            if isinstance(request, ssl.SSLSocket):
                request.settimeout(10)
                request.do_handshake()
                request.settimeout(None)
            self.finish_request(request, client_address)
        except (OSError, ssl.SSLError) as error:
            logger.debug("connection from %s ended: %s", client_address, error)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._connections.discard(request)
                self._connection_threads.discard(threading.current_thread())

    def start(self, name: str) -> None:
        self._serve_thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )
        self._serve_thread.start()

    def stop(self) -> None:
        self.stopping = True
        self.shutdown()
        if self._serve_thread is not None:
            self._serve_thread.join(JOIN_TIMEOUT_SECONDS)
        with self._lock:
            connections = list(self._connections)
            threads = list(self._connection_threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(JOIN_TIMEOUT_SECONDS)
        self.server_close()


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """Read the whole request body (Content-Length or chunked): an unread body would corrupt the
    next request on a keep-alive connection."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0] or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that logs at debug level instead of to stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)
