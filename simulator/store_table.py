"""What the object store keeps for each resource type: the stored revisions, their secondary
indexes and the bounded log of watch events.

Split from `simulator.store` (the `ObjectStore`, its lists and its watchers), which holds one
`ResourceTable` per resource type and guards them all with its lock. Here are the records it hands
out (`StoredObject`, `WatchEvent`), the indexes list and watch selectors use (`FIELD_INDEXES`,
`OWNER_INDEX`), and how long watch history is retained before a watch from older gets 410 Gone.
"""

from __future__ import annotations

import bisect
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from simulator.resources import ResourceType
from simulator.store_keys import ObjectKey

JsonObject = dict[str, Any]

# Watch history kept per resource type (each event holds the whole object). kube-apiserver keeps
# what etcd has not compacted (every 5 minutes by default) and answers 410 Gone to a watch from
# before it; a small history makes clients prove they relist. 200,000 full objects per type made
# the demo's simulation grow past 4 GB in twenty minutes of node and pod churn.
DEFAULT_EVENT_LOG_SIZE = 20_000
# etcd's default compaction interval: the watch history also ends there, whatever its length, so a
# long-running simulation holds minutes of history rather than tens of thousands of old objects.
DEFAULT_EVENT_LOG_SECONDS = 300.0


def encode_json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class StoredObject:
    """One revision of one object; its JSON is computed at most once."""

    __slots__ = ("_json", "obj", "rv")

    def __init__(self, obj: JsonObject, rv: int) -> None:
        self.obj = obj
        self.rv = rv
        self._json: bytes | None = None

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = encode_json(self.obj)
        return self._json

    @property
    def key(self) -> ObjectKey:
        meta = self.obj["metadata"]
        return (meta.get("namespace", ""), meta["name"])

    def copy(self) -> JsonObject:
        """A deep, private copy (decoding the cached JSON is faster than copy.deepcopy)."""
        result: JsonObject = json.loads(self.json)
        return result


@dataclass(frozen=True)
class WatchEvent:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    current: StoredObject
    previous: StoredObject | None


IndexFunction = Callable[[JsonObject], Iterable[str]]


def _owner_uids(obj: JsonObject) -> Iterable[str]:
    return [ref["uid"] for ref in obj["metadata"].get("ownerReferences") or () if "uid" in ref]


def _path_index(*path: str) -> IndexFunction:
    def index(obj: JsonObject) -> Iterable[str]:
        current: Any = obj
        for segment in path:
            current = current.get(segment) if isinstance(current, dict) else None
        return ("" if current is None else str(current),)

    return index


def _deletion_index(obj: JsonObject) -> Iterable[str]:
    deleted = obj["metadata"].get("deletionTimestamp")
    return (deleted,) if deleted else ()


# Field paths with an index; list/watch with `path=value` use it instead of a scan.
FIELD_INDEXES: dict[str, dict[str, IndexFunction]] = {
    "pods": {
        "spec.nodeName": _path_index("spec", "nodeName"),
        "status.phase": _path_index("status", "phase"),
        # Terminating pods only, for the kubelets that finish graceful deletions.
        "metadata.deletionTimestamp": _deletion_index,
    },
}
OWNER_INDEX = "metadata.ownerReferences.uid"


class ResourceTable:
    """Objects, indexes and event log of one resource type. Guarded by the store's lock."""

    def __init__(
        self,
        resource: ResourceType,
        log_size: int,
        log_seconds: float = DEFAULT_EVENT_LOG_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resource = resource
        self.objects: dict[ObjectKey, StoredObject] = {}
        self.index_functions: dict[str, IndexFunction] = {
            **FIELD_INDEXES.get(resource.key, {}),
            OWNER_INDEX: _owner_uids,
        }
        self.indexes: dict[str, dict[str, set[ObjectKey]]] = {name: {} for name in self.index_functions}
        self.log_rvs: list[int] = []
        self.log_events: list[WatchEvent] = []
        self.log_size = log_size
        # Wall time, not the simulated clock: etcd compacts on its own timer.
        self.log_seconds = log_seconds
        self.log_times: list[float] = []
        self._monotonic = monotonic
        self.compacted_rv = 0  # events with rv <= this are no longer retained
        self.dropped = False  # its CustomResourceDefinition is gone: its watches end
        self._sorted_keys: list[ObjectKey] | None = None

    def sorted_keys(self) -> list[ObjectKey]:
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.objects)
        return self._sorted_keys

    def put(self, stored: StoredObject, previous: StoredObject | None) -> None:
        key = stored.key
        if previous is None:
            self._sorted_keys = None
        self.objects[key] = stored
        for name, function in self.index_functions.items():
            old_values = set(function(previous.obj)) if previous is not None else set()
            new_values = set(function(stored.obj))
            if old_values == new_values:
                continue
            index = self.indexes[name]
            for value in old_values - new_values:
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]
            for value in new_values - old_values:
                index.setdefault(value, set()).add(key)

    def remove(self, stored: StoredObject) -> None:
        key = stored.key
        del self.objects[key]
        self._sorted_keys = None
        for name, function in self.index_functions.items():
            index = self.indexes[name]
            for value in function(stored.obj):
                bucket = index.get(value)
                if bucket is not None:
                    bucket.discard(key)
                    if not bucket:
                        del index[value]

    def record(self, event: WatchEvent) -> None:
        now = self._monotonic()
        self.log_rvs.append(event.rv)
        self.log_events.append(event)
        self.log_times.append(now)
        # Trim in one slice once the log is twice its size: amortised O(1) per event.
        if len(self.log_events) > 2 * self.log_size:
            self._compact(len(self.log_events) - self.log_size)
        elif self.log_times[0] < now - 2 * self.log_seconds:
            # Same amortisation in time: cut what is older than the window once the oldest event
            # is twice as old, as a compaction every `log_seconds` would leave it.
            self._compact(bisect.bisect_left(self.log_times, now - self.log_seconds))

    def _compact(self, cut: int) -> None:
        if cut <= 0:
            return
        self.compacted_rv = self.log_rvs[cut - 1]
        del self.log_rvs[:cut]
        del self.log_events[:cut]
        del self.log_times[:cut]

    def events_after(self, rv: int) -> list[WatchEvent]:
        start = bisect.bisect_right(self.log_rvs, rv)
        return self.log_events[start:]

    def state_at(self, rv: int) -> dict[ObjectKey, StoredObject | None]:
        """The objects changed after `rv`, as they were at `rv` (None: absent then), from the
        event log, as etcd reads an older revision. The caller checks `rv >= compacted_rv`."""
        past: dict[ObjectKey, StoredObject | None] = {}
        start = bisect.bisect_right(self.log_rvs, rv)
        for event in itertools.islice(self.log_events, start, None):
            key = event.current.key
            if key not in past:
                past[key] = None if event.type == "ADDED" else event.previous
        return past
