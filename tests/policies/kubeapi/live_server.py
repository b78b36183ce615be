"""pytest-django's live server, answering streamed responses as gunicorn does (the product's WEB
process): an HTTP/1.1 response without a Content-Length goes out in chunks, each as the view yields
it, on a connection that stays open.

Django's own test server (wsgiref) ends such a response by closing the connection instead. A client
that reads a watch with urllib3's ``stream()`` (the official Python client) then gets the events
only when the server ends the watch, so a test could not tell a streaming endpoint from a buffering
one, and each watch it read lasted the watch's whole ``timeoutSeconds``.
"""

from __future__ import annotations

from typing import Any

from django.core.servers.basehttp import ServerHandler
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler
from pytest_django.live_server_helper import LiveServer

# Statuses that carry no body, so no framing either (RFC 9112 section 6.3).
_NO_BODY = (204, 304)


class ChunkedServerHandler(ServerHandler):
    """Django's test server handler, with chunked transfer coding where gunicorn uses it."""

    # Set by wsgiref (and by `ChunkedRequestHandler`); the stubs do not declare them.
    headers: Any
    status: str
    environ: dict[str, Any]
    request_handler: Any

    chunked = False
    _framing = False  # True once the headers are out: what is written now is body, in chunks

    def set_content_length(self) -> None:
        super().set_content_length()  # a one-block body gets its Content-Length
        if "Content-Length" not in self.headers and self._may_chunk():
            self.headers["Transfer-Encoding"] = "chunked"
            self.chunked = True

    def _may_chunk(self) -> bool:
        status = int(str(self.status).split(" ", 1)[0])
        return (
            self.environ.get("SERVER_PROTOCOL") == "HTTP/1.1"
            and self.environ.get("REQUEST_METHOD") != "HEAD"
            and status >= 200
            and status not in _NO_BODY
        )

    def cleanup_headers(self) -> None:
        client_closes = self.request_handler.close_connection  # it sent "Connection: close"
        super().cleanup_headers()  # closes the connection of a body without Content-Length
        if self.chunked and not client_closes:
            # The chunks say where the body ends: the connection can serve the next request.
            del self.headers["Connection"]
            self.request_handler.close_connection = False

    def send_headers(self) -> None:
        super().send_headers()
        self._framing = self.chunked

    def _write(self, data: bytes) -> None:
        if self._framing and data:  # an empty chunk would end the body
            data = b"%x\r\n%s\r\n" % (len(data), data)
        super()._write(data)

    def finish_content(self) -> None:
        super().finish_content()
        if self._framing:
            self._framing = False
            super()._write(b"0\r\n\r\n")
            self._flush()

    def handle_error(self) -> None:
        # A body cut short leaves the connection unusable for another request.
        self.request_handler.close_connection = True
        super().handle_error()


class ChunkedRequestHandler(QuietWSGIRequestHandler):
    server: Any  # Django's WSGIServer (with get_app), typed as socketserver's BaseServer

    def handle_one_request(self) -> None:
        """Django's `WSGIRequestHandler.handle_one_request`, with `ChunkedServerHandler`."""
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = ChunkedServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ())
        handler.request_handler = self
        handler.run(self.server.get_app())


class ChunkedLiveServerThread(LiveServerThread):
    def _create_server(self, connections_override: Any = None) -> Any:
        return self.server_class(
            (self.host, self.port),
            ChunkedRequestHandler,
            allow_reuse_address=False,
            connections_override=connections_override,
        )


def chunked_live_server(addr: str) -> LiveServer:
    """pytest-django's `LiveServer` (so its per-test settings and database handling apply), running
    `ChunkedLiveServerThread`."""
    server = LiveServer(addr, start=False)
    plain = server.thread
    server.thread = ChunkedLiveServerThread(
        plain.host,
        static_handler=plain.static_handler,
        connections_override=plain.connections_override,
        port=plain.port,
    )
    server.thread.daemon = True
    server.start()
    return server
