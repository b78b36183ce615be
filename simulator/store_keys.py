"""Ordered key windows of the object store: the keys a list page walks, in key order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from typing import overload

ObjectKey = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


class KeyRange(Sequence[ObjectKey]):
    """A window of the sorted key list, without copying it (a page of 500 out of 50,000)."""

    def __init__(self, keys: list[ObjectKey], low: int, high: int) -> None:
        self._keys, self._low, self._high = keys, low, max(low, high)

    def __len__(self) -> int:
        return self._high - self._low

    @overload
    def __getitem__(self, index: int) -> ObjectKey: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ObjectKey]: ...

    def __getitem__(self, index: int | slice) -> ObjectKey | Sequence[ObjectKey]:
        if isinstance(index, slice):
            return self._keys[self._low : self._high][index]
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._keys[self._low + index]

    def __iter__(self) -> Iterator[ObjectKey]:
        return itertools.islice(self._keys, self._low, self._high)


def after(key: ObjectKey, start_after: ObjectKey | None) -> bool:
    return start_after is None or key > start_after


def with_past_keys(
    candidates: Sequence[ObjectKey],
    past: Mapping[ObjectKey, object | None],
    current: Container[ObjectKey],
    namespace: str | None,
    start_after: ObjectKey | None,
) -> Iterable[ObjectKey]:
    """The current candidate keys plus those of objects that existed at the snapshot but are
    gone now (or left an index bucket), in key order."""
    whole_range = isinstance(candidates, KeyRange)  # every current key in range, not a bucket
    extra = sorted(
        key
        for key, stored in past.items()
        if stored is not None
        and (namespace is None or key[0] == namespace)
        and after(key, start_after)
        and not (whole_range and key in current)
    )
    if not extra:
        return candidates
    if whole_range:
        return heapq.merge(candidates, extra)
    return sorted(set(candidates) | set(extra))
