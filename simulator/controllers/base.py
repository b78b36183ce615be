"""The controller manager: runs each controller's `reconcile` when its inputs change or when the
time it asked for arrives, on one background thread per cluster.

A controller is small and separately testable: `reconcile(now)` reads the store, writes through
`ClusterApi`, and returns the simulated time at which it wants to run again (or None). It must be
idempotent: a pass with nothing to do writes nothing, so a controller woken by its own writes
settles after one extra pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Protocol

from simulator.clock import Clock, Wakeup
from simulator.resources import ResourceType
from simulator.store import ObjectStore
from simulator.store_table import WatchEvent

logger = logging.getLogger(__name__)

ERROR_RETRY_SECONDS = 1.0


class Controller(Protocol):
    name: str
    # Keys of the resources (`ResourceType.key`) whose changes trigger a pass.
    watches: frozenset[str]

    def reconcile(self, now: float) -> float | None:
        """Do one pass; return the simulated time of the next wanted pass, if any."""
        ...


class ControllerManager:
    def __init__(self, store: ObjectStore, clock: Clock, controllers: Iterable[Controller]) -> None:
        self.store = store
        self.clock = clock
        self.controllers: list[Controller] = list(controllers)
        self._due: dict[str, float | None] = {c.name: clock.now() for c in self.controllers}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._wakeup = Wakeup(clock)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        store.add_listener(self._on_change)

    def add(self, controller: Controller) -> None:
        with self._lock:
            self.controllers.append(controller)
            self._due[controller.name] = self.clock.now()
        self._wakeup.notify()

    def _on_change(self, resource: ResourceType, event: WatchEvent) -> None:
        with self._lock:
            self._dirty.add(resource.key)
        self._wakeup.notify()

    def poke(self) -> None:
        """Run every controller soon (e.g. after the cloud changed, which the store cannot see)."""
        with self._lock:
            for name in self._due:
                self._due[name] = self.clock.now()
        self._wakeup.notify()

    def run_once(self) -> bool:
        """One pass over the controllers that are dirty or due. Returns whether any ran."""
        now = self.clock.now()
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            controllers = list(self.controllers)
        ran = False
        for controller in controllers:
            due = self._due.get(controller.name)
            if not (controller.watches & dirty or (due is not None and due <= now)):
                continue
            ran = True
            try:
                next_due = controller.reconcile(now)
            except Exception:
                logger.exception("controller %s failed", controller.name)
                next_due = now + ERROR_RETRY_SECONDS
            with self._lock:
                self._due[controller.name] = next_due
        self.passes += 1
        return ran

    def _next_due(self) -> float | None:
        with self._lock:
            if self._dirty:
                return self.clock.now()
            times = [t for t in self._due.values() if t is not None]
        return min(times) if times else None

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wakeup.wait_until(self._next_due())
            if self._stopped.is_set():
                return
            self.run_once()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sim-controllers", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wakeup.close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def settle(self, max_passes: int = 100) -> int:
        """Run passes in the caller's thread until nothing is dirty or due (tests, no thread)."""
        for count in range(max_passes):
            if not self.run_once():
                return count
        return max_passes


def controllers_by_name(controllers: Sequence[Controller]) -> dict[str, Controller]:
    return {c.name: c for c in controllers}
