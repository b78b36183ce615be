"""The HTTP(S) server of a simulated cluster: Kubernetes requests in, JSON or watch streams out."""

from __future__ import annotations

import logging
import ssl
from urllib.parse import parse_qsl, urlsplit

from simulator import pod_exec
from simulator.errors import ApiError
from simulator.handlers import RequestHandler
from simulator.loopback import LoopbackServer, QuietHandler, read_body
from simulator.messages import Request, Response, WatchStream, error_response

logger = logging.getLogger(__name__)


class _KubernetesServer(LoopbackServer):
    def __init__(self, handler: RequestHandler, ssl_context: ssl.SSLContext | None) -> None:
        self.request_handler = handler
        super().__init__(_ConnectionHandler, ssl_context)


class _ConnectionHandler(QuietHandler):
    server: _KubernetesServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        body = read_body(self)
        parts = urlsplit(self.path)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query: dict[str, str] = {}
        for key, value in pairs:
            query.setdefault(key, value)
        request = Request(
            method=self.command,
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            query_pairs=pairs,
        )
        try:
            outcome = self.server.request_handler.handle(request)
        except Exception:  # handle() maps errors itself; this is the last line of defence
            logger.exception("unhandled simulator error")
            outcome = error_response(ApiError(500, "InternalError", "simulator error"))
        if isinstance(outcome, WatchStream):
            self._stream(outcome)
        elif isinstance(outcome, pod_exec.ExecSession):
            self._upgrade(outcome)
        else:
            self._send(outcome)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _upgrade(self, session: pod_exec.ExecSession) -> None:
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", session.accept)
        self.send_header("Sec-WebSocket-Protocol", session.protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True  # the connection was the stream's; nothing follows it
        pod_exec.serve(session, self.connection, lambda: self.server.stopping)

    def _stream(self, stream: WatchStream) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        try:
            for chunk in stream.events(lambda: self.server.stopping):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (OSError, ssl.SSLError):
            self.close_connection = True


class ApiServer:
    """Serves one cluster's `RequestHandler` on 127.0.0.1 with an ephemeral port."""

    def __init__(self, handler: RequestHandler, ssl_context: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._ssl_context = ssl_context
        self._server: _KubernetesServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the API server is not started")
        return self._server.url

    def start(self) -> None:
        self._server = _KubernetesServer(self._handler, self._ssl_context)
        self._server.start("sim-apiserver")

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stopping = True
        self._handler.api.store.close()
        self._server.stop()
        self._server = None
