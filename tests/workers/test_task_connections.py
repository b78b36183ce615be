"""A worker's database connections from task to task: kept (Celery's Django fixup would otherwise close
them around every task, and each batch of passes would open a new PostgreSQL backend), yet never
one that failed or outlived CONN_MAX_AGE.

With Celery's own fixup, as `celery worker` installs it, and the real PostgreSQL."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import OperationalError, connection
from django.db.backends.signals import connection_created

from nodeless_saas.celery import app
from workers import tasks

# The product's handlers of the task signals are connected where its tasks are defined.
assert tasks.provisioning_reconcile_batch.name in app.tasks


class Task:
    def __init__(self, eager: bool) -> None:
        self.request = SimpleNamespace(is_eager=eager)


def run_task(fixup: DjangoWorkerFixup, *, eager: bool = False) -> None:
    """What a worker does around a task, as far as connections go: the signals, and the fixup's
    handlers of them (installed by `celery worker`, not in tests)."""
    task = Task(eager)
    fixup.on_task_prerun(sender=task)
    task_prerun.send(sender=task, task=task, task_id="t", args=(), kwargs={})
    with connection.cursor() as cursor:  # the task's work
        cursor.execute("SELECT 1")
    task_postrun.send(sender=task, task=task, task_id="t", args=(), kwargs={}, retval=None, state="SUCCESS")
    fixup.on_task_postrun(sender=task)


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_from_task_to_task() -> None:
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    opened = connection.connection
    for _ in range(5):
        run_task(fixup)
    assert connection.connection is opened


@pytest.mark.django_db(transaction=True)
def test_a_connection_past_its_age_or_broken_is_replaced_before_the_next_task() -> None:
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    old = connection.connection
    connection.close_at = time.monotonic() - 1  # outlived CONN_MAX_AGE
    run_task(fixup)
    assert connection.connection is not old and not connection.errors_occurred
    broken = connection.connection
    connection.errors_occurred = True
    broken.close()  # the server went away
    run_task(fixup)
    assert connection.connection is not broken


@pytest.mark.django_db(transaction=True)
def test_a_task_run_in_the_callers_thread_leaves_its_connection_alone() -> None:
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    kept = connection.connection
    connection.close_at = time.monotonic() - 1
    run_task(fixup, eager=True)  # `apply`: the caller's connection and transaction
    assert connection.connection is kept


@pytest.fixture
def unbounded_statements():
    """No receiver of ``statements_bounded`` left by another test's in-process worker, before and
    after; the connection opened under a bound is closed."""
    connection_created.disconnect(dispatch_uid="workers.statements_bounded")
    connection.close()
    yield
    connection_created.disconnect(dispatch_uid="workers.statements_bounded")
    connection.close()


def _statement_timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return str(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_a_worker_bounds_each_statement_by_the_soft_time_limit_on_every_pool(
    unbounded_statements: None, settings: Any
) -> None:
    """Celery's time limits stop a task in a prefork pool only; in a threads pool (the federation
    worker) a statement that hangs would hold its thread for good. Once a worker has started, the
    process's new connections end a statement when the soft limit has passed; other processes (web,
    migrate) keep the server's default."""
    from celery.contrib.testing.worker import start_worker

    settings.CELERY_TASK_SOFT_TIME_LIMIT = 1
    assert _statement_timeout() == "0"  # not a worker: the server's default, no bound
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, queues=["idle"]):
        connection.close()
        assert _statement_timeout() == "1s"
        with pytest.raises(OperationalError, match="statement timeout"), connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(30)")
