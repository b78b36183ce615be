"""Watches waiting for their organization's resourceVersion to move, sharing one reader.

A watch on the endpoint is a request that lasts minutes (client-go's reflectors ask for 5-10
minutes; ``kubectl get -w`` for as long as it runs), and Argo CD keeps one open for every resource
type it manages. Each used to read the organization's counter every ``POLL_SECONDS`` on a database
session of its own: 40 idle watches were 200 statements a second and 40 sessions held. Now the
first watch of an organization in a process reads the counter for all of them (``Versions``);
the others wait on a condition and give their session back while nothing happens (``idle``), so
an idle watch holds a thread and nothing else. The reader is a watch's own thread, not one of its
own: its reads run on that request's session, as every other read of the request does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

# How often an organization's counter is read while someone in this process watches it.
POLL_SECONDS = 0.2


@dataclass
class _Organization:
    waiting: int = 0
    reader: int | None = None  # the thread reading for everyone (the first watch that came)
    version: int | None = None  # as last read
    read_at: float = -1e9  # time.monotonic()


class Versions:
    """The latest resourceVersion of each organization watched in this process, read once per
    ``POLL_SECONDS`` by one of its watches (``read``: the organization's counter)."""

    def __init__(self, read: Callable[[str], int], poll_seconds: float = POLL_SECONDS) -> None:
        self._read = read
        self._poll_seconds = poll_seconds
        self._changed = threading.Condition()
        self._organizations: dict[str, _Organization] = {}

    def wait_past(self, organization_id: str, version: int, timeout: float) -> int:
        """The organization's resourceVersion once it is past ``version``, or as last read when
        ``timeout`` seconds pass first (``version`` if nobody has read it yet)."""
        me = threading.get_ident()
        deadline = time.monotonic() + timeout
        with self._changed:
            watched = self._organizations.setdefault(organization_id, _Organization())
            watched.waiting += 1
            try:
                while True:
                    if watched.version is not None and watched.version > version:
                        return watched.version
                    now = time.monotonic()
                    if now >= deadline:
                        return version if watched.version is None else watched.version
                    if watched.reader is None:
                        watched.reader = me
                    if watched.reader == me and now - watched.read_at >= self._poll_seconds:
                        self._read_for_everyone(organization_id, watched)
                        continue
                    due = watched.read_at + self._poll_seconds if watched.reader == me else deadline
                    self._changed.wait(max(0.0, min(deadline, due) - now))
            finally:
                watched.waiting -= 1
                if watched.reader == me:
                    watched.reader = None  # the next waiter to wake takes over
                    self._changed.notify_all()
                if not watched.waiting:
                    del self._organizations[organization_id]

    def _read_for_everyone(self, organization_id: str, watched: _Organization) -> None:
        """Read the counter without the lock (others keep waiting), then wake them all."""
        self._changed.release()
        try:
            version = self._read(organization_id)
        finally:
            self._changed.acquire()
            watched.read_at = time.monotonic()
        watched.version = version
        self._changed.notify_all()

    def watching(self, organization_id: str) -> int:
        """Watches of the organization waiting in this process now."""
        with self._changed:
            watched = self._organizations.get(organization_id)
            return watched.waiting if watched else 0


def idle() -> None:
    """Give this request's database session back while its watch has nothing to send (the next
    statement opens one again). Not inside a transaction: a test's, or an atomic block, keeps it."""
    if not connection.in_atomic_block:
        connection.close()
