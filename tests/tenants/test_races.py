"""A lost race is told as one (``tenants.races.race_message``), here a deadlock PostgreSQL broke."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, transaction

from tenants.models import Organization
from tenants.races import race_message

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_deadlock_postgresql_broke_is_a_race_lost(cast) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the deadlock is PostgreSQL's")
    both_locked = threading.Barrier(2)
    failures: list[Exception] = []

    def lock(first: Organization, second: Organization) -> None:
        try:
            with transaction.atomic():
                Organization.objects.select_for_update().filter(pk=first.pk).get()
                both_locked.wait(timeout=30)
                Organization.objects.select_for_update().filter(pk=second.pk).get()
        except DatabaseError as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=lock, args=(cast.org_a, cast.org_b)),
        threading.Thread(target=lock, args=(cast.org_b, cast.org_a)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(failures) == 1, failures  # PostgreSQL ended one of the two; the other went on
    assert race_message(failures[0]) == (
        "Another request changed the same thing at the same moment; reload and try again."
    )
    assert race_message(DatabaseError("something else")) is None
