"""Taking, renewing and releasing leases (see workers.models.Lease).

A pass over a cluster costs the lease a fixed number of statements whatever the cluster holds, and a
fleet of a thousand clusters passes a hundred times a second: so taking a lease is one statement (an
upsert that only wins over a free, expired or own row), and renewing between steps writes only once
a quarter of the lease has gone by: until then the lease has at least three quarters of its time
left, which is what a renewal would have bought.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from workers.models import Lease

# Renew in the database once this share of the lease's time has gone by since the last renewal.
RENEW_AFTER_SHARE = 0.25

_TAKE = (
    f"INSERT INTO {Lease._meta.db_table} (name, holder, expires_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
    f"WHERE {Lease._meta.db_table}.expires_at <= %s OR {Lease._meta.db_table}.holder = excluded.holder "
    "RETURNING holder"
)


class LeaseLost(Exception):
    """The lease expired or was taken over while we were acting; stop before the next step."""


class HeldLease:
    def __init__(self, name: str, holder: str, ttl: timedelta) -> None:
        self.name, self.holder, self.ttl = name, holder, ttl
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
    holder = holder or uuid.uuid4().hex
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_TAKE, [name, holder, adapt(now + ttl), adapt(now)])
        taken = cursor.fetchone()
    return HeldLease(name, holder, ttl) if taken is not None else None


def release(lease: HeldLease) -> None:
    Lease.objects.filter(name=lease.name, holder=lease.holder).delete()


@contextmanager
def held(name: str, *, ttl: timedelta) -> Iterator[HeldLease | None]:
    """`with held("cluster:<id>", ttl=...) as lease:` — lease is None when someone else holds it."""
    lease = try_acquire(name, ttl=ttl)
    try:
        yield lease
    finally:
        if lease is not None:
            release(lease)
