"""How many long requests one organization may hold open in one endpoint process.

A watch, a followed log and an exec session each hold one of the process's threads for as long as
they last (docker-compose's ``kube``: 64 threads in each of 2 processes). Without a share, one
organization's watchers (an Argo CD per team, each watching every kind) could take every thread and
leave the others' requests waiting. Past its share the next is a 429 saying so; client-go's
reflectors retry a refused watch after a backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings

from policies.kubeapi import errors


class Shares:
    """Long requests of one sort held open in this process, by organization."""

    def __init__(self, setting: str, what: str, advice: str) -> None:
        self.setting, self.what, self.advice = setting, what, advice
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def limit(self) -> int:
        return int(getattr(settings, self.setting))

    def full(self, organization: Any) -> bool:
        with self.lock:
            return self.counts.get(str(organization), 0) >= self.limit()

    def take(self, organization: Any) -> bool:
        with self.lock:
            held = self.counts.get(str(organization), 0)
            if held >= self.limit():
                return False
            self.counts[str(organization)] = held + 1
            return True

    def give_back(self, organization: Any) -> None:
        with self.lock:
            left = self.counts.get(str(organization), 0) - 1
            if left > 0:
                self.counts[str(organization)] = left
            else:
                self.counts.pop(str(organization), None)

    def refused(self) -> errors.KubeError:
        return errors.KubeError(
            429,
            "TooManyRequests",
            f"{self.limit()} {self.what} of this organization are open on this server: {self.advice}",
        )

    def held(
        self, organization: Any, chunks: Iterator[Any], on_close: Callable[[], None] | None = None
    ) -> Held:
        """``chunks`` as a response body holding one of the organization's places until the server
        closes it; the 429 when none is left."""
        if not self.take(organization):
            Held(chunks, lambda: None, on_close).close()  # what it opened goes, unread
            raise self.refused()
        return Held(chunks, lambda: self.give_back(organization), on_close)


class Held:
    """A long response's body. The server closes it however the response ends, also when it was
    never iterated (a generator's own ``finally`` would not run then): its place is given back once."""

    def __init__(
        self, chunks: Iterator[Any], give_back: Callable[[], None], on_close: Callable[[], None] | None
    ) -> None:
        self.chunks, self.give_back, self.on_close = chunks, give_back, on_close
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self.closed:
            raise StopIteration
        try:
            return next(self.chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()
            if self.on_close is not None:
                self.on_close()
        finally:
            self.give_back()


WATCHES = Shares(
    "NODELESS_KUBE_WATCHES",
    "watches and followed logs",
    "end one (a kubectl get -w or logs -f); the server's operator sets how many (NODELESS_KUBE_WATCHES)",
)
EXEC_SESSIONS = Shares(
    "NODELESS_KUBE_EXEC_SESSIONS", "kubectl exec sessions", "end one (exit its shell) and try again"
)
