"""What the lab's and the benchmarks' kubectl-like side needs around the official client."""

from __future__ import annotations

from typing import Any


def drain(response: Any) -> None:
    """Read a raw (`_preload_content=False`) response to the end: only then does urllib3 put the
    connection back in the pool (otherwise every call pays a new TLS handshake)."""
    response.data  # noqa: B018  (reading is the point)
    response.release_conn()
