"""How work is asked for: by registered task names, and once per subject while a task is in flight."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from nodeless_saas.celery import app
from workers import enqueue
from workers.tasks import provisioning_launch, request_launch


def test_every_name_the_apps_send_is_a_registered_task() -> None:
    app.loader.import_default_modules()
    assert set(enqueue.TASK_NAMES) <= set(app.tasks)


@pytest.mark.django_db
def test_a_row_handed_over_again_while_its_launch_is_in_flight_queues_nothing() -> None:
    """A restarted demo's backlog held thousands of copies of the same launches: one per row now."""
    row_id = str(uuid.uuid4())
    cache.delete(enqueue.launch_queued_key(row_id))
    assert [request_launch(row_id) for _ in range(3)] == [True, False, False]
    assert provisioning_launch.run(row_id) == "skipped"  # no such row; the task still ends its turn
    assert request_launch(row_id) is True  # the next hand-over after the task is queued again
    cache.delete(enqueue.launch_queued_key(row_id))
