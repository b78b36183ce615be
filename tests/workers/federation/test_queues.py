"""An organization's federation passes, a write's and the follow-ups alike, go to one federation
queue, so the one worker process consuming it runs them all (and reuses what the last one kept,
``workers.federation.runner``); a worker started as docker-compose's and ``make demo``'s
``federation`` takes them from there.

Against the real broker: the messages are read back from Redis, and a Celery worker (in a thread)
consumes the queues."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import redis
from django.core.cache import cache

from nodeless_saas.celery import app
from tenants.models import Organization
from tests.workers.test_fleet import _database_now, _end_sessions_opened_since
from workers import enqueue
from workers.processes import FEDERATION_THREADS
from workers.routing import federation_queue

ORGANIZATIONS = [str(uuid.UUID(int=number)) for number in range(1, 13)]


@pytest.fixture
def federation_queues(settings) -> Iterator[redis.Redis]:
    """Federation queues of this test's own: the product's are in the Redis database both xdist
    workers of a run share (see ``tests.workers.test_fleet.own_shard_queues``)."""
    run = uuid.uuid4().hex[:8]
    queues = tuple(f"federation-{run}-{shard}" for shard in range(len(settings.NODELESS_FEDERATION_QUEUES)))
    settings.NODELESS_FEDERATION_QUEUES = queues
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield client
    client.delete(
        *queues, *(f"_kombu.binding{kind}.{queue}" for queue in queues for kind in ("", "_permanent"))
    )
    client.close()


def _forget(organization_id: str) -> None:
    cache.delete_many(
        [enqueue.federation_queued_key(organization_id), enqueue.federation_follow_up_key(organization_id)]
    )


def _queued(broker: redis.Redis, queues: tuple[str, ...]) -> Counter[tuple[str, str]]:
    """(queue, organization id) of every federation pass waiting in ``queues``."""
    found: Counter[tuple[str, str]] = Counter()
    for queue in queues:
        for raw in broker.lrange(queue, 0, -1):
            headers = json.loads(raw)["headers"]
            if headers["task"] == enqueue.FEDERATION_PASS:
                found[(queue, headers["argsrepr"].strip("()',"))] += 1
    return found


def test_every_pass_of_an_organization_goes_to_its_one_federation_queue(settings, federation_queues) -> None:
    for organization_id in ORGANIZATIONS:
        _forget(organization_id)
        assert enqueue.request_federation_pass(organization_id) is True  # a write's
        assert enqueue.request_federation_pass(organization_id, countdown=2) is True  # a follow-up
    queues = settings.NODELESS_FEDERATION_QUEUES
    queued = _queued(federation_queues, queues)
    for organization_id in ORGANIZATIONS:
        _forget(organization_id)
        assert queued[(federation_queue(organization_id), organization_id)] == 2
    assert sum(queued.values()) == 2 * len(ORGANIZATIONS)  # none in another queue
    assert len({queue for queue, _ in queued}) > 1  # organizations are spread over the queues
    assert not _queued(federation_queues, (settings.CELERY_TASK_DEFAULT_QUEUE,))


@pytest.mark.django_db(transaction=True)
def test_a_worker_of_the_federation_queues_runs_the_passes(settings, federation_queues) -> None:
    """A worker with docker-compose's ``federation`` pool (threads) and only the federation queues."""
    from celery.contrib.testing.worker import start_worker

    organizations = [
        str(Organization.objects.create(name=name, slug=name).pk)
        for name in ("fed-q-a", "fed-q-b", "fed-q-c")
    ]
    for organization_id in organizations:
        _forget(organization_id)
        assert enqueue.request_federation_pass(organization_id) is True
    queues = list(settings.NODELESS_FEDERATION_QUEUES)
    started = _database_now()
    with start_worker(
        app, pool="threads", concurrency=FEDERATION_THREADS, perform_ping_check=False, queues=queues
    ):
        deadline = time.monotonic() + 30
        # The task deletes its queued mark when it starts: then a write may queue the next pass.
        while any(cache.get(enqueue.federation_queued_key(org)) for org in organizations):
            assert time.monotonic() < deadline, "the federation worker did not take the passes"
            time.sleep(0.05)
    _end_sessions_opened_since(started)
