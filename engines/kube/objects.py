"""What every Kubernetes object view shares: the JSON it wraps, and its metadata, spec and status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

Json = Mapping[str, Any]


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as the API writes it ("2026-12-05T15:11:55Z"); None when absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class ObjectView:
    """A read-only view of one object's JSON: nothing is copied and nothing is changed."""

    __slots__ = ("raw",)

    def __init__(self, raw: Json) -> None:
        self.raw = raw

    @property
    def metadata(self) -> Json:
        return self.raw.get("metadata") or {}

    @property
    def spec(self) -> Json:
        return self.raw.get("spec") or {}

    @property
    def status(self) -> Json:
        return self.raw.get("status") or {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def created_at(self) -> datetime | None:
        return parse_time(self.metadata.get("creationTimestamp"))
