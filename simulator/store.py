"""A versioned object store with watches: the simulator's etcd.

Every write gets the next value of one cluster-wide `resourceVersion` counter, as etcd's revision
does. Each resource type keeps:

- its objects by (namespace, name), each with its JSON serialised once per revision (a list of
  50,000 pods joins cached bytes instead of re-encoding dicts);
- secondary indexes (pods by `spec.nodeName` and `status.phase`, everything by owner uid), so
  field-selector lists and controllers avoid scanning every object;
- a bounded log of recent events, from which watches resume at a `resourceVersion`; a watch
  from before the retained window gets 410 Gone, as from a compacted etcd.

That per-type part (`ResourceTable`, the stored revisions and the watch events) is in
`simulator.store_table`; this module holds the store itself, its lists and its watchers.

Stored dicts are never mutated: a write stores a new dict. Readers may therefore share them
freely but must treat them as read-only (`StoredObject.copy()` gives a private copy).
"""

from __future__ import annotations

import bisect
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from simulator.clock import Clock, format_timestamp
from simulator.errors import already_exists, conflict, gone, not_found
from simulator.resources import STORED_RESOURCES, ResourceType
from simulator.selectors import EVERYTHING, NO_FIELDS, FieldSelector, Selector
from simulator.store_keys import KeyRange, ObjectKey, after, with_past_keys
from simulator.store_table import DEFAULT_EVENT_LOG_SECONDS, DEFAULT_EVENT_LOG_SIZE, ResourceTable, WatchEvent

# Re-exported: the objects the store hands out, which its callers name through the store.
from simulator.store_table import JsonObject as JsonObject
from simulator.store_table import StoredObject as StoredObject

_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's utilrand alphabet


@dataclass
class ListResult:
    items: list[StoredObject]
    resource_version: int
    continue_key: ObjectKey | None = None
    remaining: int = 0


@dataclass
class Watcher:
    """A cursor over one resource's event log, filtered by namespace and selectors."""

    store: ObjectStore
    table: ResourceTable
    namespace: str | None
    labels: Selector
    fields: FieldSelector
    cursor: int
    pending: list[WatchEvent] = field(default_factory=list)
    closed: bool = False

    def _visible(self, stored: StoredObject | None) -> bool:
        if stored is None:
            return False
        obj = stored.obj
        if self.namespace is not None and obj["metadata"].get("namespace", "") != self.namespace:
            return False
        return self.labels.matches(obj["metadata"].get("labels")) and self.fields.matches(obj)

    def _translate(self, event: WatchEvent) -> tuple[str, StoredObject] | None:
        """Selector transitions as the API server reports them: an object that stops matching
        is DELETED for this watcher, one that starts matching is ADDED."""
        now_visible = self._visible(event.current)
        if event.type == "ADDED":
            return ("ADDED", event.current) if now_visible else None
        was_visible = self._visible(event.previous)
        if event.type == "DELETED":
            return ("DELETED", event.current) if (was_visible or now_visible) else None
        if was_visible and now_visible:
            return ("MODIFIED", event.current)
        if now_visible:
            return ("ADDED", event.current)
        if was_visible:
            return ("DELETED", event.current)
        return None

    def next_batch(self, timeout: float) -> list[tuple[str, StoredObject]]:
        """Events after the cursor (waiting up to `timeout` real seconds for the first one).

        Raises 410 Gone if the cursor fell out of the retained log.
        """
        if self.pending:
            initial, self.pending = self.pending, []
            return [(e.type, e.current) for e in initial]
        with self.store.condition:
            if self.table.dropped:
                self.closed = True
            if self.closed or self.store.closed:
                return []
            if self.cursor < self.table.compacted_rv:
                raise gone(f"too old resource version: {self.cursor} ({self.table.compacted_rv})")
            events = self.table.events_after(self.cursor)
            if not events and timeout > 0:
                self.store.condition.wait(timeout)
                if self.cursor < self.table.compacted_rv:
                    raise gone(f"too old resource version: {self.cursor} ({self.table.compacted_rv})")
                events = self.table.events_after(self.cursor)
            # Every event of this resource up to the store's revision is now consumed, so the
            # cursor (which bookmarks report) moves to the current revision, as the watch
            # cache's progress notifications move it past changes of other resources.
            self.cursor = max(self.cursor, self.store.rv)
        translated = (self._translate(e) for e in events)
        return [t for t in translated if t is not None]

    def close(self) -> None:
        self.closed = True


StoreListener = Callable[[ResourceType, WatchEvent], None]


class ObjectStore:
    """All objects of one simulated cluster."""

    def __init__(
        self,
        clock: Clock,
        resources: Iterable[ResourceType] = STORED_RESOURCES,
        *,
        event_log_size: int = DEFAULT_EVENT_LOG_SIZE,
        event_log_seconds: float = DEFAULT_EVENT_LOG_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.condition = threading.Condition(self.lock)
        self._log_size, self._log_seconds, self._monotonic = event_log_size, event_log_seconds, monotonic
        self.tables = {
            r.key: ResourceTable(r, event_log_size, event_log_seconds, monotonic) for r in resources
        }
        self.rv = 1
        self.closed = False
        self._random = random.Random(seed)
        self._listeners: list[StoreListener] = []

    def add_table(self, resource: ResourceType) -> None:
        """Start storing a resource type (one a CustomResourceDefinition defines); kept if it exists."""
        with self.lock:
            if resource.key not in self.tables:
                table = ResourceTable(resource, self._log_size, self._log_seconds, self._monotonic)
                self.tables = {**self.tables, resource.key: table}

    def drop_table(self, resource: ResourceType) -> None:
        """Stop storing a resource type (its objects must be gone): its watches end."""
        with self.lock:
            dropped = self.tables.get(resource.key)
            if dropped is not None:
                dropped.dropped = True
            self.tables = {key: table for key, table in self.tables.items() if key != resource.key}
            self.condition.notify_all()

    # --- reads -------------------------------------------------------------------------------

    def table(self, resource: ResourceType) -> ResourceTable:
        return self.tables[resource.key]

    def get(self, resource: ResourceType, namespace: str, name: str) -> StoredObject:
        stored = self.try_get(resource, namespace, name)
        if stored is None:
            raise not_found(resource.plural, name, resource.group)
        return stored

    def try_get(self, resource: ResourceType, namespace: str, name: str) -> StoredObject | None:
        return self.tables[resource.key].objects.get((namespace if resource.namespaced else "", name))

    def by_index(self, resource: ResourceType, index: str, value: str) -> list[StoredObject]:
        with self.lock:
            table = self.tables[resource.key]
            keys = table.indexes[index].get(value, ())
            return [table.objects[k] for k in keys]

    def count(self, resource: ResourceType) -> int:
        return len(self.tables[resource.key].objects)

    def list(
        self,
        resource: ResourceType,
        namespace: str | None = None,
        labels: Selector = EVERYTHING,
        fields: FieldSelector = NO_FIELDS,
        *,
        limit: int = 0,
        start_after: ObjectKey | None = None,
        at_rv: int | None = None,
    ) -> ListResult:
        """Objects in key order. With `at_rv` (at least the table's `compacted_rv`), the objects
        as they were at that revision: the consistent snapshot of a paged or exact list."""
        with self.lock:
            table = self.tables[resource.key]
            current_keys = self._candidate_keys(table, namespace, fields, start_after)
            total = len(current_keys)
            candidates: Iterable[ObjectKey] = current_keys
            past = table.state_at(at_rv) if at_rv is not None and at_rv < self.rv else {}
            if past:
                candidates = with_past_keys(current_keys, past, table.objects, namespace, start_after)
            filtered = not labels.empty or bool(fields.requirements)
            items: list[StoredObject] = []
            more = False
            for key in candidates:
                found = past[key] if key in past else table.objects[key]
                if found is None:
                    continue
                stored = found
                obj = stored.obj
                if filtered and not (labels.matches(obj["metadata"].get("labels")) and fields.matches(obj)):
                    continue
                if limit and len(items) >= limit:
                    more = True
                    break
                items.append(stored)
            # Like kube-apiserver, count the rest only when no selector makes that a full scan.
            remaining = max(0, total - len(items)) if more and not filtered else 0
            continue_key = items[-1].key if more else None
            return ListResult(items, self.rv if at_rv is None else at_rv, continue_key, remaining)

    def _candidate_keys(
        self,
        table: ResourceTable,
        namespace: str | None,
        fields: FieldSelector,
        start_after: ObjectKey | None,
    ) -> Sequence[ObjectKey]:
        """Keys to consider, in order: an index bucket when a field selector pins an indexed
        field, otherwise a window of the sorted keys (a namespace, after the continue key)."""
        for path in fields.paths:
            value = fields.equality_value(path)
            if value is not None and path in table.indexes:
                keys = sorted(table.indexes[path].get(value, ()))
                return [k for k in keys if (namespace is None or k[0] == namespace) and after(k, start_after)]
        keys = table.sorted_keys()
        if namespace is not None:
            low = bisect.bisect_left(keys, (namespace, ""))
            high = bisect.bisect_left(keys, (namespace + "\x00", ""))
        else:
            low, high = 0, len(keys)
        if start_after is not None:
            low = max(low, bisect.bisect_right(keys, start_after))
        return KeyRange(keys, low, high)

    # --- writes ------------------------------------------------------------------------------

    def add_listener(self, listener: StoreListener) -> None:
        """Call `listener(resource, event)` after every write, under the store lock: it must be
        cheap and must not call back into the store (set a flag, wake a thread)."""
        with self.lock:
            self._listeners.append(listener)

    def generate_name(self, prefix: str) -> str:
        return prefix + "".join(self._random.choice(_NAME_SUFFIX_ALPHABET) for _ in range(5))

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def _commit(
        self, resource: ResourceType, event_type: str, obj: JsonObject, previous: StoredObject | None
    ) -> StoredObject:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        stored = StoredObject(obj, self.rv)
        table = self.tables[resource.key]
        if event_type == "DELETED":
            assert previous is not None
            table.remove(previous)
        else:
            table.put(stored, previous)
        event = WatchEvent(self.rv, event_type, stored, previous)
        table.record(event)
        for listener in self._listeners:
            listener(resource, event)
        self.condition.notify_all()
        return stored

    def create(self, resource: ResourceType, obj: JsonObject) -> StoredObject:
        """Store a new object; `obj` becomes owned by the store. Sets uid, timestamps and name."""
        with self.lock:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = self.generate_name(meta["generateName"])
                while self.try_get(resource, meta.get("namespace", ""), meta["name"]) is not None:
                    meta["name"] = self.generate_name(meta["generateName"])
            if self.try_get(resource, meta.get("namespace", ""), meta["name"]) is not None:
                raise already_exists(resource.plural, meta["name"], resource.group)
            if not meta.get("uid"):
                meta["uid"] = self.new_uid()
            meta["creationTimestamp"] = format_timestamp(self.clock.now())
            meta.setdefault("generation", 1)
            obj["kind"] = resource.kind
            obj["apiVersion"] = resource.api_version
            return self._commit(resource, "ADDED", obj, None)

    def replace(
        self, resource: ResourceType, obj: JsonObject, *, expected_rv: str | None = None
    ) -> StoredObject:
        """Store a new revision of an existing object (optimistic concurrency on `expected_rv`)."""
        with self.lock:
            meta = obj["metadata"]
            previous = self.get(resource, meta.get("namespace", ""), meta["name"])
            if expected_rv and expected_rv != str(previous.rv):
                raise conflict(resource.plural, meta["name"], resource.group)
            old_meta = previous.obj["metadata"]
            meta["uid"] = old_meta["uid"]
            meta["creationTimestamp"] = old_meta["creationTimestamp"]
            obj["kind"] = resource.kind
            obj["apiVersion"] = resource.api_version
            return self._commit(resource, "MODIFIED", obj, previous)

    def delete(
        self, resource: ResourceType, namespace: str, name: str, *, expected_uid: str | None = None
    ) -> StoredObject:
        with self.lock:
            previous = self.get(resource, namespace, name)
            if expected_uid and previous.obj["metadata"]["uid"] != expected_uid:
                raise conflict(
                    resource.plural, name, resource.group, "Precondition failed: UID in precondition"
                )
            return self._commit(resource, "DELETED", previous.copy(), previous)

    # --- watches -----------------------------------------------------------------------------

    def watch(
        self,
        resource: ResourceType,
        namespace: str | None = None,
        labels: Selector = EVERYTHING,
        fields: FieldSelector = NO_FIELDS,
        since_rv: int | None = None,
    ) -> Watcher:
        """A watcher from `since_rv`; with None, it first replays the current objects as ADDED."""
        with self.lock:
            table = self.tables[resource.key]
            if since_rv is not None:
                if since_rv < table.compacted_rv:
                    raise gone(f"too old resource version: {since_rv} ({table.compacted_rv})")
                return Watcher(self, table, namespace, labels, fields, since_rv)
            current = self.list(resource, namespace, labels, fields)
            initial = [WatchEvent(s.rv, "ADDED", s, None) for s in current.items]
            return Watcher(self, table, namespace, labels, fields, current.resource_version, initial)

    def close(self) -> None:
        """Wake every watcher so that open watch streams end."""
        with self.condition:
            self.closed = True
            self.condition.notify_all()
