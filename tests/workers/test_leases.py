"""Leases on the real database: one taker at a time, an expired lease taken over, a lost lease noticed
at the next renewal that writes, and two takers racing for one free lease never both winning."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from workers.leases import PRUNE_AFTER, HeldLease, LeaseLost, leases_prune, release, try_acquire
from workers.models import Lease
from workers.tasks import lease_rows_prune

TTL = timedelta(seconds=60)


def name() -> str:
    return f"test:{uuid.uuid4().hex}"


def _taken_over(lease_name: str) -> tuple[HeldLease, HeldLease]:
    """The lease taken, left to expire (its holder died), and taken by another: (old, new)."""
    old = try_acquire(lease_name, ttl=TTL)
    assert old is not None
    Lease.objects.filter(name=lease_name).update(expires_at=timezone.now() - timedelta(seconds=1))
    new = try_acquire(lease_name, ttl=TTL)
    assert new is not None
    return old, new


@pytest.mark.django_db
def test_a_free_lease_is_taken_in_one_statement_and_a_held_one_is_refused() -> None:
    lease_name = name()
    with CaptureQueriesContext(connection) as queries:
        lease = try_acquire(lease_name, ttl=TTL)
    assert lease is not None and len(queries.captured_queries) == 1
    assert try_acquire(lease_name, ttl=TTL) is None  # another holder, still live
    assert Lease.objects.get(name=lease_name).holder == lease.holder


@pytest.mark.django_db
def test_an_expired_lease_is_taken_over_and_the_old_holder_loses_it() -> None:
    lease_name = name()
    old, new = _taken_over(lease_name)
    assert new.holder != old.holder
    old._renewed -= TTL.total_seconds()  # a quarter of the lease has gone by: the renewal writes
    with pytest.raises(LeaseLost):
        old.renew()
    release(old)  # releasing a lost lease leaves the new holder's row alone
    assert Lease.objects.get(name=lease_name).holder == new.holder


@pytest.mark.django_db
def test_the_holder_takes_its_own_lease_again_and_a_released_lease_is_free() -> None:
    lease_name = name()
    lease = try_acquire(lease_name, ttl=TTL)
    assert lease is not None
    assert try_acquire(lease_name, ttl=TTL, holder=lease.holder) is not None
    release(lease)
    assert try_acquire(lease_name, ttl=TTL) is not None


@pytest.mark.django_db
def test_a_renewal_soon_after_taking_writes_nothing_and_a_late_one_extends_the_lease() -> None:
    lease = try_acquire(name(), ttl=TTL)
    assert lease is not None
    with CaptureQueriesContext(connection) as queries:
        lease.renew()
    assert queries.captured_queries == []
    before = Lease.objects.get(name=lease.name).expires_at
    lease._renewed -= TTL.total_seconds() / 2
    lease.renew()
    assert Lease.objects.get(name=lease.name).expires_at > before


def race_for(lease_name: str) -> list[bool]:
    """Two threads, each with its own connection, take the lease at the same moment."""
    start = threading.Barrier(2)
    won: list[bool] = []

    def take() -> None:
        start.wait()
        try:
            won.append(try_acquire(lease_name, ttl=TTL) is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


@pytest.mark.django_db(transaction=True)
def test_two_takers_racing_for_a_free_lease_never_both_win() -> None:
    for _ in range(20):
        assert sorted(race_for(name())) == [False, True]


@pytest.mark.django_db
def test_a_released_lease_is_free_and_counts_each_new_holder() -> None:
    """Releasing keeps the row (expired) so the count of takes goes on: a worker that took the
    lease at count n and finds n + 1 at its next take knows nobody held it in between."""
    lease_name = name()
    first = try_acquire(lease_name, ttl=TTL)
    assert first is not None and first.takes == 1
    again = try_acquire(lease_name, ttl=TTL, holder=first.holder)  # its holder again: no new take
    assert again is not None and again.takes == 1
    release(first)
    row = Lease.objects.get(name=lease_name)
    assert row.expires_at < timezone.now() and row.takes == 1
    second = try_acquire(lease_name, ttl=TTL)
    assert second is not None and second.takes == 2  # the next take: nobody in between
    release(second)
    other = try_acquire(lease_name, ttl=TTL)  # another worker holds it meanwhile
    assert other is not None
    release(other)
    third = try_acquire(lease_name, ttl=TTL)
    assert third is not None and third.takes == second.takes + 2


@pytest.mark.django_db
def test_a_release_leaves_a_lease_taken_over_to_its_new_holder() -> None:
    lease_name = name()
    old, new = _taken_over(lease_name)
    assert new.takes == old.takes + 1
    release(old)
    assert try_acquire(lease_name, ttl=TTL) is None  # still the new holder's
    assert Lease.objects.get(name=lease_name).holder == new.holder


@pytest.mark.django_db
def test_free_lease_rows_are_pruned_and_held_ones_stay() -> None:
    """Released rows go at the next prune, rows a dead holder left a day after they expired; a
    held lease stays, and a lease taken again after its row went counts from one."""
    released, dead, recent, held_name = name(), name(), name(), name()
    first = try_acquire(released, ttl=TTL)
    assert first is not None
    release(first)
    for lease_name in (dead, recent, held_name):
        assert try_acquire(lease_name, ttl=TTL) is not None
    now = timezone.now()
    Lease.objects.filter(name=dead).update(expires_at=now - PRUNE_AFTER - timedelta(seconds=1))
    Lease.objects.filter(name=recent).update(expires_at=now - timedelta(minutes=5))  # its holder may be late
    mine = {released, dead, recent, held_name}

    leases_prune(now)

    assert set(Lease.objects.filter(name__in=mine).values_list("name", flat=True)) == {recent, held_name}
    again = try_acquire(released, ttl=TTL)
    assert again is not None and again.takes == 1  # no count kept from before matches it


def test_the_beat_prunes_lease_rows_hourly() -> None:
    tasks = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert tasks[lease_rows_prune.name] == 3600.0


@pytest.mark.django_db
def test_the_prune_task_deletes_a_released_row() -> None:
    lease = try_acquire(name(), ttl=TTL)
    assert lease is not None
    release(lease)
    assert lease_rows_prune() >= 1
    assert not Lease.objects.filter(name=lease.name).exists()
