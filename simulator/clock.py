"""Simulated time, shared by every controller of a simulation and by the simulated cloud.

Simulated time is seconds since the Unix epoch, like `time.time()`, so timestamps written into
Kubernetes objects and cloud events look real. Two clocks exist:

- `ScaledClock` runs `speed` times faster than the wall clock (speed 1 is real time), so a trace
  replay or a demo can compress hours into minutes;
- `ManualClock` only moves when a test calls `advance()`, so controller tests are exact and fast.

Code that waits for a simulated deadline never sleeps by itself: it asks the clock how many real
seconds remain (`real_seconds_until`) and subscribes to jumps (`subscribe`), which is what
`Wakeup.wait_until` does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

# A waiter never blocks longer than this without re-reading the clock, so a clock change that
# nobody announced (or a lost wake-up) costs at most this much latency.
MAX_REAL_WAIT_SECONDS = 0.5


class Clock(Protocol):
    """Simulated time source. `now()` is seconds since the epoch in simulated time."""

    def now(self) -> float: ...

    def real_seconds_until(self, sim_time: float) -> float | None:
        """Real seconds until `sim_time`; None when only an `advance()` can get there."""
        ...

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` whenever time jumps; returns a function that unsubscribes."""
        ...


class ScaledClock:
    """Wall-clock time multiplied by `speed`, starting at `start` (default: the real now)."""

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        self.speed = speed
        self._sim_origin = time.time() if start is None else start
        self._real_origin = time.monotonic()

    def now(self) -> float:
        return self._sim_origin + (time.monotonic() - self._real_origin) * self.speed

    def real_seconds_until(self, sim_time: float) -> float | None:
        return max(0.0, (sim_time - self.now()) / self.speed)

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        # A scaled clock never jumps: waiters compute their timeouts from real_seconds_until.
        return lambda: None


class ManualClock:
    """A clock that only moves when told to; `advance()` wakes every subscribed waiter."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[], None]] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def real_seconds_until(self, sim_time: float) -> float | None:
        return 0.0 if sim_time <= self.now() else None

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            now = self._now
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback()
        return now

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe


class Wakeup:
    """A settable flag that a loop waits on until a simulated deadline or an explicit `notify()`."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._event = threading.Event()
        self._unsubscribe = clock.subscribe(self._event.set)

    def notify(self) -> None:
        self._event.set()

    def wait_until(self, sim_deadline: float | None, max_real_wait: float = MAX_REAL_WAIT_SECONDS) -> None:
        """Block until notified, until the clock reaches `sim_deadline`, or `max_real_wait` passes."""
        timeout = max_real_wait
        if sim_deadline is not None:
            remaining = self._clock.real_seconds_until(sim_deadline)
            if remaining is not None:
                timeout = min(timeout, remaining)
        if timeout > 0:
            self._event.wait(timeout)
        self._event.clear()

    def close(self) -> None:
        self._unsubscribe()
        self._event.set()


def format_timestamp(sim_time: float) -> str:
    """RFC 3339 with second precision and a `Z`, as the Kubernetes API writes `metav1.Time`."""
    return datetime.fromtimestamp(sim_time, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_timestamp(sim_time: float) -> str:
    """RFC 3339 with microseconds, as Kubernetes writes `metav1.MicroTime` (events, leases)."""
    return datetime.fromtimestamp(sim_time, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> float:
    """Inverse of `format_timestamp`/`format_micro_timestamp`; accepts any RFC 3339 offset."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
