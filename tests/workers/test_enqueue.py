"""How work is asked for: by registered task names, and once per subject while a task is in flight."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from nodeless_saas.celery import app
from workers import enqueue
from workers.enqueue import request_federation_pass
from workers.tasks import federation_pass, provisioning_launch, request_launch


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


@pytest.mark.django_db
def test_a_follow_up_pass_waiting_its_turn_does_not_hold_back_the_pass_a_write_asks_for() -> None:
    """A pass with work in flight asks for another two seconds later; a workload submitted
    meanwhile gets a pass now, not that one."""
    organization_id = str(uuid.uuid4())
    marks = [
        enqueue.federation_queued_key(organization_id),
        enqueue.federation_follow_up_key(organization_id),
    ]
    cache.delete_many(marks)
    assert request_federation_pass(organization_id, countdown=2) is True  # the follow-up
    assert request_federation_pass(organization_id) is True  # a write's: not held back by it
    assert request_federation_pass(organization_id) is False  # once while one is queued
    assert request_federation_pass(organization_id, countdown=2) is False
    federation_pass.run(organization_id)  # no such organization; the pass still ends its turn
    assert request_federation_pass(organization_id, countdown=2) is True
    assert request_federation_pass(organization_id) is True
    cache.delete_many(marks)


@pytest.mark.django_db
def test_a_follow_up_pass_says_it_is_one(worker) -> None:
    """The follow-up decides only what is not steady (``workers.federation.runner``); a write's pass
    does not say so."""
    organization_id = str(uuid.uuid4())
    marks = [
        enqueue.federation_queued_key(organization_id),
        enqueue.federation_follow_up_key(organization_id),
    ]
    cache.delete_many(marks)
    request_federation_pass(organization_id, countdown=2)
    request_federation_pass(organization_id)
    assert worker.kwargs == [{"follow_up": True}, {}]
    assert worker.run() == [enqueue.FEDERATION_PASS, enqueue.FEDERATION_PASS]
    cache.delete_many(marks)
