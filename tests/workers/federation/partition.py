"""A TCP forwarder between the product and a member cluster's API server that a test can cut.

Cutting it is a network partition: the cluster keeps running its pods, but every connection from
the product is closed (existing ones at once, new ones as they arrive) until it heals.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Partition:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._cut = False
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name="partition", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for connection in list(self._open):
                _close(connection)
            self._open.clear()

    def heal(self) -> None:
        with self._lock:
            self._cut = False

    def stop(self) -> None:
        self.cut()
        _close(self.listener)
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    _close(client)
                    continue
                try:
                    server = socket.create_connection(self.upstream, timeout=5)
                except OSError:
                    _close(client)
                    continue
                # The 5 s bounded the connect only: left on the socket, it cut every connection
                # quiet for 5 s (an idle watch: "Response ended prematurely"), which no network does.
                server.settimeout(None)
                # A network forwards what it gets at once: Nagle's algorithm on the relay would hold
                # each small write back for the other side's delayed ACK (~40 ms a call).
                for end in (client, server):
                    end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._open |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                _close(end)
                with self._lock:
                    self._open.discard(end)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        connection.close()
