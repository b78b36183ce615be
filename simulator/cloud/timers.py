"""Callbacks at simulated times (a spot instance's termination two minutes after its notice).

`Timers.held` is a facility for tests only: nothing in the simulated cloud holds its timers, so the
cloud keeps AWS's deadlines (a spot instance is reclaimed when its notice says, whether the control
plane acted in time or not). A test that asserts what a pass does *before* a deadline holds the
timers over those few steps, so that on a busy machine the deadline (seconds of real time on a fast
clock) cannot pass before the pass it checks has even run; what was due then runs on release, late.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from simulator.clock import Clock, Wakeup

logger = logging.getLogger(__name__)


class Timers:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        # Callbacks run one at a time, whether the loop or a release runs them.
        self._running = threading.RLock()
        self._holds = 0
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

    @property
    def is_held(self) -> bool:
        with self._lock:
            return self._holds > 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """For tests only (see the module's docstring): no callback starts while held (one already
        running finishes); on leaving the outermost hold, every callback that fell due meanwhile
        runs, in time order, before this returns. Holds nest."""
        with self._lock:
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                released = self._holds == 0
            if released:
                self.run_due()
                self._wakeup.notify()  # the loop waits for the next deadline again

    def run_due(self) -> int:
        """Run every callback whose time has come (none while held); returns how many ran."""
        ran = 0
        with self._running:
            while True:
                with self._lock:
                    if self._holds or not self._heap or self._heap[0][0] > self.clock.now():
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
                # Held: nothing may run, so wait for the release's notify rather than a deadline
                # that has passed already (which would spin).
                next_time = self._heap[0][0] if self._heap and not self._holds else None
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
