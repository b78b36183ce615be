"""Taking, renewing and releasing leases (see workers.models.Lease)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from workers.models import Lease


class LeaseLost(Exception):
    """The lease expired or was taken over while we were acting; stop before the next step."""


class HeldLease:
    def __init__(self, name: str, holder: str, ttl: timedelta) -> None:
        self.name, self.holder, self.ttl = name, holder, ttl

    def renew(self) -> None:
        """Extend the lease; raises LeaseLost if someone else holds it now. Call between steps."""
        updated = Lease.objects.filter(name=self.name, holder=self.holder).update(
            expires_at=timezone.now() + self.ttl
        )
        if updated != 1:
            raise LeaseLost(f"lease {self.name} is no longer ours")


def try_acquire(name: str, *, ttl: timedelta, holder: str | None = None) -> HeldLease | None:
    """Take the lease if it is free or expired; None if another live holder has it."""
    holder = holder or uuid.uuid4().hex
    now = timezone.now()
    # Take over an expired lease (or renew our own) with one conditional UPDATE...
    taken = Lease.objects.filter(Q(name=name) & (Q(expires_at__lte=now) | Q(holder=holder))).update(
        holder=holder, expires_at=now + ttl
    )
    if taken == 1:
        return HeldLease(name, holder, ttl)
    # ...or create it; the primary key makes two creators race safely.
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=holder, expires_at=now + ttl)
    except IntegrityError:
        return None
    return HeldLease(name, holder, ttl)


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
