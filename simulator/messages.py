"""What the simulated API server's request handler takes and gives back, apart from how it decides.

`simulator.server` parses each HTTP request into a `Request` and writes what
`simulator.handlers.RequestHandler` answers: a `Response` (a body to send at once) or a
`WatchStream` (watch events to send as chunks until the watch times out). They are here, not in
`simulator.handlers`, so that the routing and verbs there read apart from the wire format of a watch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from simulator import tables
from simulator.api import ClusterApi
from simulator.errors import ApiError
from simulator.resources import ResourceType
from simulator.store import StoredObject, Watcher
from simulator.store_table import encode_json

# kube-apiserver's cacher sends bookmarks about once a minute (defaultBookmarkFrequency).
BOOKMARK_INTERVAL_SECONDS = 60.0
JSON = "application/json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    query_pairs: list[tuple[str, str]] = field(default_factory=list)  # every value (exec's commands)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WatchStream:
    """An open watch: the server writes `events()` as chunks until it returns."""

    watcher: Watcher | None
    resource: ResourceType
    timeout_seconds: float
    bookmarks: bool
    as_table: bool
    initial_events_end_bookmark: bool
    api: ClusterApi
    bookmark_interval: float = BOOKMARK_INTERVAL_SECONDS
    error: ApiError | None = None  # the watch could not start: one ERROR event, then the end

    def events(self, stopping: Any) -> Iterator[bytes]:
        if self.watcher is None or self.error is not None:
            if self.error is not None:
                yield self._error(self.error)
            return
        watcher = self.watcher
        deadline = time.monotonic() + self.timeout_seconds
        next_bookmark = time.monotonic() + self.bookmark_interval
        first_table = True
        try:
            if self.initial_events_end_bookmark:
                for event_type, stored in watcher.next_batch(0):
                    yield self._encode(event_type, stored, first_table)
                    first_table = False
                yield self._bookmark(watcher, initial_events_end=True)
            while not stopping() and not watcher.closed and time.monotonic() < deadline:
                wait = min(1.0, max(0.0, deadline - time.monotonic()), self.bookmark_interval)
                try:
                    batch = watcher.next_batch(wait)
                except ApiError as error:
                    yield self._error(error)
                    return
                for event_type, stored in batch:
                    yield self._encode(event_type, stored, first_table)
                    first_table = False
                # Like the watch cache (a bookmark about every minute to each watcher that
                # allows them), on a timer, whatever else was sent.
                if self.bookmarks and time.monotonic() >= next_bookmark:
                    yield self._bookmark(watcher)
                    next_bookmark = time.monotonic() + self.bookmark_interval
        finally:
            watcher.close()

    @staticmethod
    def _error(error: ApiError) -> bytes:
        return encode_json({"type": "ERROR", "object": error.status()}) + b"\n"

    def _encode(self, event_type: str, stored: StoredObject, with_columns: bool) -> bytes:
        if self.as_table:
            table = tables.table(
                self.resource, [stored.obj], self.api.clock.now(), str(stored.rv), with_columns=with_columns
            )
            return encode_json({"type": event_type, "object": table}) + b"\n"
        return b'{"type":"' + event_type.encode() + b'","object":' + stored.json + b"}\n"

    def _bookmark(self, watcher: Watcher, *, initial_events_end: bool = False) -> bytes:
        """A BOOKMARK: an object of the kind with nothing but the revision the watch has
        reached (the store's current one once every change was sent)."""
        metadata: dict[str, Any] = {"resourceVersion": str(watcher.cursor)}
        if initial_events_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self.resource.kind, "apiVersion": self.resource.api_version, "metadata": metadata}
        return encode_json({"type": "BOOKMARK", "object": obj}) + b"\n"


def json_response(status: int, body: Any) -> Response:
    return Response(status, encode_json(body))


def error_response(error: ApiError) -> Response:
    return json_response(error.code, error.status())
