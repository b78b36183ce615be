"""Watches of one organization share one reader of its resourceVersion (``policies.kubeapi.watching``):
however many wait in a process, the counter is read once per poll, by one of them, and all of
them see what it read. An in-memory counter stands in for the database's."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from policies.kubeapi.watching import Versions

WATCHES = 20


class Counter:
    """The organization's counter: ``moves_on`` reads after the first, it says one more. Its
    first read waits until ``watches`` wait, so every one of them is there before it moves."""

    def __init__(self, versions_of: list[Versions], version: int, moves_on: int, watches: int) -> None:
        self.versions_of, self.version, self.moves_on, self.watches = versions_of, version, moves_on, watches
        self.reads: list[int] = []  # the reading thread of each read
        self.lock = threading.Lock()

    def read(self, organization_id: str) -> int:
        if not self.reads:
            deadline = time.monotonic() + 30
            while (
                self.versions_of[0].watching(organization_id) < self.watches and time.monotonic() < deadline
            ):
                time.sleep(0.005)
        with self.lock:
            self.reads.append(threading.get_ident())
            return self.version + (1 if len(self.reads) >= self.moves_on else 0)


def test_many_watches_of_one_organization_read_its_counter_once_per_poll() -> None:
    holder: list[Versions] = []
    counter = Counter(holder, version=5, moves_on=3, watches=WATCHES)
    versions = Versions(counter.read, poll_seconds=0.01)
    holder.append(versions)

    with ThreadPoolExecutor(WATCHES) as pool:
        seen = list(pool.map(lambda _: versions.wait_past("org", 5, timeout=30), range(WATCHES)))

    # Each watch reading for itself would have read at least once each: 20 reads or more.
    assert seen == [6] * WATCHES
    assert len(counter.reads) == 3 and len(set(counter.reads)) == 1
    assert versions.watching("org") == 0


def test_when_the_reading_watch_ends_another_takes_over() -> None:
    first_ended = threading.Event()
    readers: list[int] = []

    def read(_: str) -> int:
        readers.append(threading.get_ident())
        return 6 if first_ended.is_set() else 5

    versions = Versions(read, poll_seconds=0.01)

    def first() -> int:
        try:
            return versions.wait_past("org", 5, timeout=0.1)
        finally:
            first_ended.set()

    with ThreadPoolExecutor(2) as pool:
        reading = pool.submit(first)
        while not versions.watching("org") and not reading.done():
            time.sleep(0.001)
        second = pool.submit(lambda: versions.wait_past("org", 5, timeout=30))
        assert reading.result() == 5  # its time ran out: the version as last read
        assert second.result() == 6
    assert len(set(readers)) == 2  # the reads went on in the other watch's thread


def test_a_watch_alone_whose_time_runs_out_before_any_read_gets_its_own_version_back() -> None:
    versions = Versions(lambda _: 9, poll_seconds=0.01)
    assert versions.wait_past("org", 7, timeout=0) == 7
    assert versions.wait_past("org", 7, timeout=5) == 9
