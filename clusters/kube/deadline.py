"""One deadline for everything a check asks of a customer's API server.

Each call has its own connect and read timeouts (`PROBE_TIMEOUT`), but a server that answers each
call just in time would hold a worker for the sum of them. Under a deadline every call gets at most
what is left of it, and a call made after it fails at once, as a timeout does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from urllib3.exceptions import TimeoutError as UrllibTimeout


class DeadlinePassed(UrllibTimeout):
    """No time is left for another call: handled wherever a timeout is (one text for both)."""


@dataclass(frozen=True)
class Deadline:
    expires: float  # on the monotonic clock

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def cap(self, timeout: float | tuple[float, float]) -> tuple[float, float]:
        """`timeout` (connect, read), neither longer than what is left. Raises DeadlinePassed."""
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        left = self.remaining()
        if left <= 0:
            raise DeadlinePassed("the check's deadline passed")
        return (min(connect, left), min(read, left))
