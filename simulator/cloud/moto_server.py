"""moto in server mode on 127.0.0.1 with an ephemeral port, shared by everything in the process.

moto keeps its state in process-wide backends, so two servers in one process would share state
anyway: one server is started on first use and stopped when its last user releases it. Each
simulated cloud isolates itself by using its own AWS account ids.
"""

from __future__ import annotations

import threading

from werkzeug.serving import BaseWSGIServer, make_server

DEFAULT_REGION = "us-east-1"


class MotoServer:
    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Imported here: loading moto's server app takes about a second and most importers of the
        # simulator (unit tests of the Kubernetes side) never need it.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        from simulator.cloud import moto_paging, moto_tags

        moto_tags.install()
        moto_paging.install()

        class QuietMotoHandler(MotoRequestHandler):
            def log(self, type: str, message: str, *args: object) -> None:
                pass

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietMotoHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-moto", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("moto is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
        self._server = None
        self._thread = None


_shared_lock = threading.Lock()
_shared: MotoServer | None = None
_users = 0


def acquire_shared_moto() -> MotoServer:
    global _shared, _users
    with _shared_lock:
        if _shared is None:
            _shared = MotoServer()
            _shared.start()
        _users += 1
        return _shared


def release_shared_moto() -> None:
    global _shared, _users
    with _shared_lock:
        _users -= 1
        if _users <= 0 and _shared is not None:
            _shared.stop()
            _shared = None
            _users = 0
