"""Taking, renewing and releasing leases (see workers.models.Lease).

A pass over a cluster costs the lease a fixed number of statements whatever the cluster holds, and a
fleet of a thousand clusters passes a hundred times a second: so taking a lease is one statement (an
upsert that only wins over a free, expired or own row), and renewing between steps writes only once
a quarter of the lease has gone by: until then the lease has at least three quarters of its time
left, which is what a renewal would have bought. A batch of passes (`workers.provisioning.batch`)
takes the leases of all its clusters in one statement (`try_acquire_many`) and releases those whose
passes have ended together (`release_many`): each cluster keeps a lease of its own, renewed by its own
pass.

Releasing frees a lease's row (expired) rather than deleting it, and each take by a new holder
counts one more on it (`HeldLease.takes`): a worker that kept what its last holding left (the
federation loop keeps an organization's rows) can tell at its next take whether anyone else held
the lease meanwhile. Free rows are deleted hourly (`leases_prune`), so the table holds the names
in use; a row made again counts from one, which no kept count matches.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from workers.models import Lease

# Renew in the database once this share of the lease's time has gone by since the last renewal.
RENEW_AFTER_SHARE = 0.25

_TABLE = Lease._meta.db_table
# The upsert only wins over a free, expired or own row; RETURNING names the rows it wrote. Plain
# multi-row VALUES, so the same statement runs on PostgreSQL and SQLite.
_TAKE = (
    f"INSERT INTO {_TABLE} (name, holder, expires_at, takes) VALUES {{rows}} "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
    f"takes = {_TABLE}.takes + (CASE WHEN {_TABLE}.holder = excluded.holder THEN 0 ELSE 1 END) "
    f"WHERE {_TABLE}.expires_at <= %s OR {_TABLE}.holder = excluded.holder "
    "RETURNING name, takes"
)
# A released lease's expiry: long past on every worker's clock.
_FREE = datetime(1970, 1, 1, tzinfo=UTC)
# A lease expired (not released) this long ago has a dead holder on any clock: its row goes.
PRUNE_AFTER = timedelta(days=1)


class LeaseLost(Exception):
    """The lease expired or was taken over while we were acting; stop before the next step."""


class HeldLease:
    def __init__(self, name: str, holder: str, ttl: timedelta, takes: int = 0) -> None:
        self.name, self.holder, self.ttl = name, holder, ttl
        self.takes = takes  # the lease's count of takes, this one included
        self._renewed = time.monotonic()

    def renew(self) -> None:
        """Extend the lease; raises LeaseLost if someone else holds it now. Call between steps."""
        if time.monotonic() - self._renewed < RENEW_AFTER_SHARE * self.ttl.total_seconds():
            return  # three quarters of the lease or more are left: nobody else can have taken it
        updated = Lease.objects.filter(name=self.name, holder=self.holder).update(
            expires_at=timezone.now() + self.ttl
        )
        if updated != 1:
            raise LeaseLost(f"lease {self.name} is no longer ours")
        self._renewed = time.monotonic()


def try_acquire(name: str, *, ttl: timedelta, holder: str | None = None) -> HeldLease | None:
    """Take the lease if it is free or expired (or renew our own); None if another live holder has it.
    One statement: two takers racing for a free or expired lease cannot both win, since the upsert
    locks the row it inserts or updates and the loser's condition is checked against the winner's."""
    return try_acquire_many([name], ttl=ttl, holder=holder).get(name)


def try_acquire_many(
    names: Sequence[str], *, ttl: timedelta, holder: str | None = None
) -> dict[str, HeldLease]:
    """Take every lease of `names` that is free or expired (or ours), in one statement: the ones taken,
    by name; the others have another live holder. The rows are locked in name order, so two batches
    sharing names cannot deadlock."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    holder = holder or uuid.uuid4().hex
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    expires = adapt(now + ttl)
    params: list[Any] = []
    for name in wanted:
        params += [name, holder, expires]
    with connection.cursor() as cursor:
        cursor.execute(_TAKE.format(rows=", ".join(["(%s, %s, %s, 1)"] * len(wanted))), [*params, adapt(now)])
        taken = {row[0]: int(row[1]) for row in cursor.fetchall()}
    return {name: HeldLease(name, holder, ttl, taken[name]) for name in wanted if name in taken}


def release(lease: HeldLease) -> None:
    release_many([lease])


def release_many(leases: Sequence[HeldLease]) -> None:
    """Free the leases, in one statement (without a transaction of its own: one UPDATE is atomic).
    A lease taken over meanwhile is left to its new holder."""
    if not leases:
        return
    matches = " OR ".join(["(name = %s AND holder = %s)"] * len(leases))
    params = [value for lease in leases for value in (lease.name, lease.holder)]
    free = connection.ops.adapt_datetimefield_value(_FREE)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_TABLE} SET expires_at = %s WHERE {matches}", [free, *params])


@contextmanager
def held(name: str, *, ttl: timedelta) -> Iterator[HeldLease | None]:
    """`with held("cluster:<id>", ttl=...) as lease:` — lease is None when someone else holds it."""
    lease = try_acquire(name, ttl=ttl)
    try:
        yield lease
    finally:
        if lease is not None:
            release(lease)


def leases_prune(now: datetime) -> int:
    """Delete the rows of free leases, so names gone for good (deleted clusters, organizations) do
    not stay: released rows (their expiry is 1970) and rows a dead holder left expired more than
    ``PRUNE_AFTER`` ago, far past any clock skew. A held row is never deleted: PostgreSQL checks the
    condition again on a row a take updated meanwhile. A worker keeping what its last holding left
    finds the row made again, counting from one, and reads afresh: at most once per prune. How
    many rows went."""
    deleted, _ = Lease.objects.filter(expires_at__lte=now - PRUNE_AFTER).delete()
    return deleted
