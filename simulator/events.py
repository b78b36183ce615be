"""Event correlation as client-go's recorder does it (`tools/record/events_cache.go`), so a pod that
fails to schedule a thousand times holds a few Event objects with counts, not a thousand objects.

- The same event again (source, involved object, type, reason and message) within the cache's
  life bumps `count` and `lastTimestamp` of the Event already written.
- Similar events (the same but for the message): the first ten distinct messages are events of
  their own; after that, until ten minutes pass without a similar event, every one goes to a single
  Event whose message starts with "(combined from similar events): ", which is bumped.
- Both caches are LRUs of 4,096 entries, as in client-go.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TypeVar

AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_SECONDS = 600.0
LRU_ENTRIES = 4096
COMBINED_PREFIX = "(combined from similar events): "

K = TypeVar("K")
V = TypeVar("V")
SimilarKey = tuple[str, ...]  # source, involved object, type, reason


@dataclass
class RecordedEvent:
    namespace: str
    name: str
    count: int


@dataclass
class _Similar:
    last: float
    messages: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Correlation:
    message: str  # what the Event says (combined or not)
    earlier: RecordedEvent | None  # the Event to bump instead of writing a new one
    dedup_key: tuple[str, ...]


class EventCorrelator:
    def __init__(self) -> None:
        self._similar: OrderedDict[SimilarKey, _Similar] = OrderedDict()
        self._recorded: OrderedDict[tuple[str, ...], RecordedEvent] = OrderedDict()

    def correlate(self, similar_key: SimilarKey, message: str, now: float) -> Correlation:
        similar = self._similar.get(similar_key)
        if similar is None or now - similar.last > AGGREGATE_INTERVAL_SECONDS:
            similar = _Similar(last=now)
        similar.last = now
        _put(self._similar, similar_key, similar)
        if len(similar.messages) < AGGREGATE_MAX_EVENTS:
            similar.messages.add(message)
            dedup_key = (*similar_key, message)
        else:
            message = COMBINED_PREFIX + message
            dedup_key = (*similar_key, COMBINED_PREFIX)
        earlier = self._recorded.get(dedup_key)
        if earlier is not None:
            self._recorded.move_to_end(dedup_key)
        return Correlation(message, earlier, dedup_key)

    def written(self, correlation: Correlation, event: RecordedEvent) -> None:
        _put(self._recorded, correlation.dedup_key, event)

    def forget(self, correlation: Correlation) -> None:
        """The Event to bump is gone (reaped by its TTL): the next one is written anew."""
        self._recorded.pop(correlation.dedup_key, None)


def _put(cache: OrderedDict[K, V], key: K, value: V) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > LRU_ENTRIES:
        cache.popitem(last=False)
