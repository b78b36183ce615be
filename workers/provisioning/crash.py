"""Crash injection: `NODELESS_CRASH_AT=<point>` makes the process die at that point, exactly as a
killed worker would (no cleanup, no lease release). Used by the crash tests; inert otherwise."""

from __future__ import annotations

import os

ENV = "NODELESS_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os._exit(137)
