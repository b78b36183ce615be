"""Passes side by side: the clusters of a batch (`reconcile.reconcile_batch`) each get their own pass,
run on the process's pass pool, and their leases are released as the passes end.

- **At most `NODELESS_PASSES_IN_FLIGHT` passes a process** (`pass_pool`), whatever the number of
  batches its worker runs at once: a pass mostly waits on its cluster's API server and cloud, so one
  process carries many, and the pool bounds what it asks of the database and this machine.
- **A slow cluster holds its own thread, and its own lease only.** Passes that end within
  `GATHER_SECONDS` of each other release their leases in one statement; a pass that ends later
  releases its own, so a cluster waiting on a slow API server never keeps its batch's other clusters
  leased (nor their marks set) past their own passes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from typing import TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from workers.leases import HeldLease, release_many

# Passes of a batch that end within this long of each other release their leases in one statement.
GATHER_SECONDS = 0.05

T = TypeVar("T")

_pools_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}
_reads: dict[int, ThreadPoolExecutor] = {}


def pass_pool() -> ThreadPoolExecutor:
    """The process's threads for passes (by process: a forked worker must not share its parent's)."""
    with _pools_lock:
        pool = _pools.get(os.getpid())
        if pool is None:
            pool = _pools[os.getpid()] = ThreadPoolExecutor(
                max_workers=settings.NODELESS_PASSES_IN_FLIGHT, thread_name_prefix="reconcile"
            )
        return pool


def side_by_side(
    jobs: Sequence[tuple[HeldLease, Callable[[], T]]], on_done: Callable[[list[T]], None]
) -> list[T]:
    """Run each job (a pass over a cluster whose lease is held) and release its lease when it ends,
    telling `on_done` of the results as they come. One job runs in the calling thread (and may
    raise); several run on the pass pool, and must not raise: each is its own cluster's pass."""
    if len(jobs) == 1:
        lease, job = jobs[0]
        try:
            result = job()
        finally:
            release_many([lease])
        on_done([result])
        return [result]
    pool = pass_pool()
    futures: dict[Future[T], HeldLease] = {pool.submit(_pooled, job): lease for lease, job in jobs}
    results: dict[Future[T], T] = {}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            if pending:  # passes that end together release their leases together
                together, pending = wait(pending, timeout=GATHER_SECONDS)
                done |= together
            release_many([futures[future] for future in done])
            ended = [future.result() for future in done]
            results.update(zip(done, ended, strict=True))
            on_done(ended)
    finally:
        # Interrupted (the task's time limit): the passes still running release their own leases.
        for future in pending:
            future.add_done_callback(partial(_release_when_done, futures[future]))
    return [results[future] for future in futures]


def _release_when_done(lease: HeldLease, _: Future[T]) -> None:
    release_many([lease])


def _pooled(job: Callable[[], T]) -> T:
    # What Celery's Django fixup does around each task, for the pool's long-lived threads: drop this
    # thread's connection if it failed or outlived CONN_MAX_AGE; a healthy one is kept as it is.
    if connection.errors_occurred or (
        connection.close_at is not None and time.monotonic() >= connection.close_at
    ):
        close_old_connections()
    _connections[threading.get_ident()] = connections[DEFAULT_DB_ALIAS]
    return job()


# The database connections of the pool's threads (one each, kept between passes), for `shutdown`.
_connections: dict[int, BaseDatabaseWrapper] = {}


def shutdown() -> None:
    """Stop this process's pools and close their threads' database connections (tests, which drop
    their database afterwards; a worker process's exit closes them anyway)."""
    with _pools_lock:
        pools = [*_pools.values(), *_reads.values()]
        _pools.clear()
        _reads.clear()
    for pool in pools:
        pool.shutdown(wait=True)
    for wrapper in _connections.values():
        if wrapper.connection is not None:
            wrapper.connection.close()  # the driver's connection: its thread is gone
    _connections.clear()


def cloud_reads() -> ThreadPoolExecutor:
    """The process's threads for the cloud reads a pass makes while it reads its cluster (two a pass):
    they never wait on anything but the cloud, so passes waiting on them cannot deadlock the pool."""
    with _pools_lock:
        pool = _reads.get(os.getpid())
        if pool is None:
            pool = _reads[os.getpid()] = ThreadPoolExecutor(
                max_workers=2 * settings.NODELESS_PASSES_IN_FLIGHT + 2, thread_name_prefix="cloud-reads"
            )
        return pool
