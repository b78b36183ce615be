"""Callbacks at simulated times (a spot instance's termination two minutes after its notice)."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from simulator.clock import Clock, Wakeup

logger = logging.getLogger(__name__)


class Timers:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._wakeup = Wakeup(clock)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def call_at(self, sim_time: float, callback: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._heap, (sim_time, next(self._sequence), callback))
        self._wakeup.notify()

    def pending(self) -> int:
        with self._lock:
            return len(self._heap)

    def run_due(self) -> int:
        """Run every callback whose time has come; returns how many ran."""
        ran = 0
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > self.clock.now():
                    return ran
                _, _, callback = heapq.heappop(self._heap)
            try:
                callback()
            except Exception:
                logger.exception("simulated-cloud timer failed")
            ran += 1

    def _loop(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                next_time = self._heap[0][0] if self._heap else None
            self._wakeup.wait_until(next_time)
            if not self._stopped.is_set():
                self.run_due()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sim-cloud-timers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wakeup.close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
