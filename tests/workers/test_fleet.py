"""Fleet scale: per-cluster work on shard queues, one pass per cluster in flight, due passes queued
oldest first with organizations taking turns, and each cluster's API calls within its budget.

Against the real broker (Redis: the messages are read back from the shard queues), PostgreSQL, and
the product's task and pass, with the cluster's I/O through in-memory ports (`fleet_ports`)."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusters.cloud.errors import CloudError
from clusters.cloud.interface import Instance
from clusters.models import CloudAccount, Cluster, ClusterConnection, ClusterMode
from nodeless_saas.celery import app
from tenants.models import Organization
from tests.workers import fleet_ports
from workers import enqueue
from workers.models import ReconcileDue
from workers.provisioning import batch, budget
from workers.provisioning.reconcile import reconcile_batch, reconcile_cluster
from workers.routing import federation_queue, shard_queue
from workers.schedule import in_turn, schedule_due_passes
from workers.tasks import provisioning_reconcile


def own_shard_queues(settings, monkeypatch) -> Iterator[redis.Redis]:
    """Shard queues and a scheduler tick mark of the test's own, for a test that reads the queues back
    or ticks. The product's are in the Redis database both xdist workers of a run share, where a test
    on the other worker emptied the queues between this one's sending its passes and reading them
    back, or queued a task of its own (`test_enqueue`'s launch) or held the tick mark, leaving this
    one's tick nothing to send. (The `xdist_group` meant to keep these tests on one worker does
    nothing with pytest 9.2: xdist 3.8 tags the group onto `item._nodeid`, which `nodeid` no longer
    reads, so `--dist loadgroup` spreads them over both workers.)"""
    run = uuid.uuid4().hex[:8]
    queues = tuple(f"clusters-{run}-{shard}" for shard in range(len(settings.NODELESS_SHARD_QUEUES)))
    settings.NODELESS_SHARD_QUEUES = queues
    monkeypatch.setattr("workers.schedule.TICK_MARK", f"reconcile-schedule-tick:{run}")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    yield client
    # The queues, and the routing the broker keeps for each queue a message was sent to.
    client.delete(
        *queues, *(f"_kombu.binding{kind}.{queue}" for queue in queues for kind in ("", "_permanent"))
    )
    client.close()


@pytest.fixture
def broker(settings, monkeypatch) -> Iterator[redis.Redis]:
    yield from own_shard_queues(settings, monkeypatch)


def queued_passes(broker: redis.Redis, cluster_id: str) -> Counter[str]:
    """Reconcile messages (single or batches) for the cluster waiting in each shard queue."""
    found: Counter[str] = Counter()
    for queue in settings.NODELESS_SHARD_QUEUES:
        for raw in broker.lrange(queue, 0, -1):
            headers = json.loads(raw)["headers"]
            passes = (enqueue.PROVISIONING_RECONCILE, enqueue.PROVISIONING_RECONCILE_BATCH)
            if headers["task"] in passes and cluster_id in headers["argsrepr"]:
                found[queue] += 1
    return found


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the worker did not finish the passes"
        time.sleep(0.05)


def pass_over(cluster_id: str) -> bool:
    """No pass of the cluster queued or running."""
    return cache.get(enqueue.reconcile_queued_key(cluster_id)) is None


def forget(cluster_id: str) -> None:
    cache.delete_many([enqueue.reconcile_queued_key(cluster_id), enqueue.reconcile_again_key(cluster_id)])


def nodeless_cluster(organization: Organization, name: str) -> Cluster:
    account, _ = CloudAccount.objects.get_or_create(
        organization=organization,
        role_arn=f"arn:aws:iam::123456789012:role/{organization.slug}",
        defaults={"name": "prod", "account_id": "123456789012", "regions": ["us-east-1"]},
    )
    cluster = Cluster.objects.create(
        organization=organization,
        name=name,
        connection=ClusterConnection.EKS,
        cloud_account=account,
        eks_cluster_name=name,
        region="us-east-1",
        mode=ClusterMode.NODELESS,
    )
    forget(str(cluster.pk))
    return cluster


# --- coalescing ------------------------------------------------------------------------------------


def test_a_pass_asked_for_while_one_is_queued_is_queued_once_on_its_shard(broker) -> None:
    cluster_id = str(uuid.uuid4())
    forget(cluster_id)
    assert [enqueue.request_reconcile(cluster_id) for _ in range(3)] == [True, False, False]
    assert queued_passes(broker, cluster_id) == Counter({shard_queue(cluster_id): 1})
    forget(cluster_id)


def test_a_change_seen_while_the_pass_runs_gets_exactly_one_more_pass_after_it(broker) -> None:
    """While queued, the pass will read the change itself; while running, it may have read too early."""
    cluster_id = str(uuid.uuid4())
    forget(cluster_id)
    assert enqueue.request_reconcile(cluster_id) is True
    assert enqueue.reconcile_ended(cluster_id) is False  # no change came while it "ran": nothing more
    assert enqueue.request_reconcile(cluster_id) is True
    enqueue.reconcile_started(cluster_id)
    assert [enqueue.request_reconcile(cluster_id) for _ in range(3)] == [False, False, False]
    assert enqueue.reconcile_ended(cluster_id) is True
    assert sum(queued_passes(broker, cluster_id).values()) == 3  # the first two, and one after the run
    assert enqueue.request_reconcile(cluster_id) is False  # the one after is queued
    forget(cluster_id)


# --- routing ---------------------------------------------------------------------------------------


def test_per_cluster_tasks_go_to_their_shard_and_workers_consume_every_shard() -> None:
    router = app.amqp.router
    ids = [str(uuid.uuid4()) for _ in range(64)]
    for name in (
        enqueue.PROVISIONING_RECONCILE,
        enqueue.PROVISIONING_LAUNCH,
        "workers.tasks.cluster_health_check",
    ):
        assert {router.route({}, name, (i,), {})["queue"].name for i in ids[:8]} == {
            shard_queue(i) for i in ids[:8]
        }
    assert len({shard_queue(i) for i in ids}) > 1  # clusters spread over the shards
    # An organization's federation pass goes to its federation queue (tests/workers/federation/
    # test_queues.py), beat's fan-out to the default queue.
    assert router.route({}, enqueue.FEDERATION_PASS, ("org",), {})["queue"].name == federation_queue("org")
    assert (
        router.route({}, "workers.tasks.federation_pass_all", (), {})["queue"].name
        == app.conf.task_default_queue
    )
    # A worker started without -Q consumes every queue the settings declare.
    assert set(settings.NODELESS_SHARD_QUEUES) | set(settings.NODELESS_FEDERATION_QUEUES) | {"celery"} <= set(
        app.amqp.queues
    )


# --- the schedule ----------------------------------------------------------------------------------


def test_organizations_take_turns_among_the_due_passes() -> None:
    now = timezone.now()
    rows = [(f"a{i}", "A", now) for i in range(4)] + [("b0", "B", now), ("c0", "C", now), ("b1", "B", now)]
    assert [row[0] for row in in_turn(rows)] == ["a0", "b0", "c0", "a1", "b1", "a2", "a3"]


@pytest.mark.django_db
def test_a_late_pass_makes_the_next_one_due_a_period_after_now(cast, broker, settings) -> None:
    """The tick moves the due times on in one statement, the database computing each one."""
    now, period = timezone.now(), timedelta(seconds=settings.NODELESS_RECONCILE_SECONDS)
    on_time, late = nodeless_cluster(cast.org_a, "on-time"), nodeless_cluster(cast.org_b, "late")
    ReconcileDue.objects.create(cluster=on_time, due_at=now - timedelta(seconds=3))
    ReconcileDue.objects.create(cluster=late, due_at=now - 3 * period)
    with CaptureQueriesContext(connection) as queries:
        assert schedule_due_passes(now).sent == 2
    due = dict(ReconcileDue.objects.values_list("cluster_id", "due_at"))
    assert due[on_time.pk] == now - timedelta(seconds=3) + period  # on time: a fixed rate
    assert due[late.pk] == now + period  # late: a period from now, no passes bunched back to back
    assert sum(query["sql"].startswith('UPDATE "workers_reconciledue"') for query in queries) == 1
    for cluster in (on_time, late):
        forget(str(cluster.pk))


@pytest.mark.django_db
def test_a_busy_organization_does_not_starve_another(cast, broker, settings) -> None:
    """Org A has six clusters due before org B's one; with room for three passes, B's goes second."""
    settings.NODELESS_SCHEDULE_MAX_QUEUED = 3
    now = timezone.now()
    busy = [nodeless_cluster(cast.org_a, f"a-{i}") for i in range(6)]
    quiet = nodeless_cluster(cast.org_b, "b-0")
    for age, cluster in enumerate([*busy, quiet]):
        ReconcileDue.objects.create(cluster=cluster, due_at=now - timedelta(seconds=60 - age))
    tick = schedule_due_passes(now)
    assert (tick.sent, tick.coalesced) == (3, 0)
    queued = {str(c.pk) for c in [*busy, quiet] if queued_passes(broker, str(c.pk))}
    assert queued == {str(busy[0].pk), str(quiet.pk), str(busy[1].pk)}
    due = dict(ReconcileDue.objects.values_list("cluster_id", "due_at"))
    period = timedelta(seconds=settings.NODELESS_RECONCILE_SECONDS)
    assert due[quiet.pk] == now + period  # served late: due again a period from now
    assert due[busy[2].pk] < now  # still due, first in line for the next tick
    # The shard queues hold three passes: the next tick queues nothing until the workers take some.
    assert schedule_due_passes(now).sent == 0
    for cluster in [*busy, quiet]:
        forget(str(cluster.pk))


@pytest.mark.django_db
def test_a_cluster_whose_pass_is_in_flight_gets_no_second_one(cast, broker) -> None:
    now = timezone.now()
    cluster = nodeless_cluster(cast.org_a, "slow")
    ReconcileDue.objects.create(cluster=cluster, due_at=now - timedelta(seconds=1))
    enqueue.request_reconcile(str(cluster.pk))  # e.g. its pods changed a moment ago
    tick = schedule_due_passes(now)
    assert (tick.sent, tick.coalesced) == (0, 1)
    assert sum(queued_passes(broker, str(cluster.pk)).values()) == 1
    assert ReconcileDue.objects.get(cluster=cluster).due_at > now  # served by the pass in flight
    forget(str(cluster.pk))


@pytest.mark.django_db
def test_new_clusters_are_enrolled_spread_over_the_period(cast, broker) -> None:
    now = timezone.now()
    clusters = [nodeless_cluster(cast.org_a, f"new-{i}") for i in range(8)]
    observed = nodeless_cluster(cast.org_b, "observed")
    Cluster.objects.filter(pk=observed.pk).update(mode=ClusterMode.OBSERVE)
    assert schedule_due_passes(now).enrolled == 8
    due = list(ReconcileDue.objects.values_list("due_at", flat=True))
    period = timedelta(seconds=settings.NODELESS_RECONCILE_SECONDS)
    # Within the period; a cluster whose phase is 0 is due at once, so the same tick serves it and
    # moves it a period on (one in a thousand ids: this failed one run in ~100).
    assert len(due) == 8 and all(now <= at <= now + period for at in due)
    assert len(set(due)) > 1
    assert schedule_due_passes(now).enrolled == 0
    for cluster in clusters:
        forget(str(cluster.pk))


# --- the task and the budget ------------------------------------------------------------------------


@pytest.fixture
def fake_ports(settings) -> Iterator[None]:
    settings.NODELESS_PROVISIONING_PORTS = "tests.workers.fleet_ports.fake_ports"
    fleet_ports.PORTS.clear()
    yield
    batch.shutdown()  # a batch's passes ran on the pool's threads, which hold database connections


@pytest.mark.django_db
def test_the_scheduled_pass_runs_through_the_task_and_frees_its_cluster(cast, broker, fake_ports) -> None:
    cluster = nodeless_cluster(cast.org_a, "fleet-1")
    cluster_id = str(cluster.pk)
    enqueue.request_reconcile(cluster_id, due=timezone.now().timestamp())
    result = provisioning_reconcile.apply(args=(cluster_id,), kwargs={"due": timezone.now().timestamp()})
    assert result.get() == "done"
    cloud, kube = fleet_ports.PORTS[cluster_id]
    assert ("read",) in kube.calls and ("list_instances", "") in cloud.calls
    assert cache.get(enqueue.reconcile_queued_key(cluster_id)) is None  # the next request queues again
    assert enqueue.request_reconcile(cluster_id) is True
    forget(cluster_id)


@pytest.mark.django_db
def test_each_cluster_spends_its_own_api_budget(cast, settings) -> None:
    settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST = 1, 2
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert [budget.take(first), budget.take(first)] == [0.0, 0.0]  # the burst
    assert 0 < budget.take(first) <= 1  # the next token, within a second
    with pytest.raises(budget.ApiBudgetSpent):
        budget.take(first, max_wait=0.5)  # two calls ahead of it: too long a wait
    assert budget.take(second) == 0.0  # another cluster's budget is its own


@pytest.mark.django_db
def test_a_pass_over_its_budget_stops_and_the_next_one_carries_on(cast, settings, fake_ports) -> None:
    settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST = 1, 1
    cluster = nodeless_cluster(cast.org_a, "stormy")
    cluster_id = str(cluster.pk)
    budget.take(cluster_id, cost=10, max_wait=60)  # a storm of calls spent the next ten seconds
    assert reconcile_cluster(cluster_id).outcome == "throttled"
    cloud, kube = fleet_ports.PORTS[cluster_id]
    assert cloud.calls == kube.calls == []  # not one call made beyond the budget
    redis.Redis.from_url(settings.REDIS_URL).delete(budget.budget_key(cluster_id))  # time passes
    settings.NODELESS_CLUSTER_API_BURST = 10
    assert reconcile_cluster(cluster_id).outcome == "done"  # the lease was released; the pass runs
    assert ("read",) in kube.calls and ("list_instances", "") in cloud.calls


@pytest.mark.django_db(transaction=True)
def test_a_batch_pays_for_its_passes_first_reads_at_once_and_for_every_call_once(
    settings, fake_ports, monkeypatch
) -> None:
    """The reads each pass makes first (the cluster, the interruption notices, its instances) take
    their tokens from every cluster's bucket in one trip to Redis; no call goes unpaid or is paid
    twice, and a cluster whose budget is spent is left alone."""
    settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST = 1, 10
    organization = Organization.objects.create(name="Thrifty", slug=f"thrifty-{uuid.uuid4().hex[:8]}")
    ids = [str(nodeless_cluster(organization, f"thrifty-{i}").pk) for i in range(3)]
    budget.take(ids[2], cost=10, max_wait=60)  # a storm of calls spent the next ten seconds
    trips: list[tuple[int, float]] = []
    take_many = budget.take_many

    def counted(cluster_ids: Sequence[str], *, cost: float = 1, max_wait: float = 2.0) -> list[float]:
        trips.append((len(cluster_ids), cost))
        return take_many(cluster_ids, cost=cost, max_wait=max_wait)

    monkeypatch.setattr(budget, "take_many", counted)
    monkeypatch.setattr("workers.provisioning.context.take_many", counted)
    reports = reconcile_batch(ids)
    assert [report.outcome for report in reports] == ["done", "done", "throttled"]
    assert trips == [(3, 3)]  # the three first reads of each of the three clusters, in one trip
    client = redis.Redis.from_url(settings.REDIS_URL)
    for cluster_id in ids[:2]:
        cloud, kube = fleet_ports.PORTS[cluster_id]
        assert ("read",) in kube.calls and ("list_instances", "") in cloud.calls
        tokens = client.hget(budget.budget_key(cluster_id), "tokens")
        assert tokens is not None and 7 <= float(tokens) < 8  # three calls made, three tokens spent
    assert fleet_ports.PORTS[ids[2]][0].calls == fleet_ports.PORTS[ids[2]][1].calls == []
    for cluster_id in ids:
        forget(cluster_id)


class FlakyCloud(fleet_ports.ReadingCloud):
    """A cloud whose first listing fails."""

    def list_instances(self, tags: Mapping[str, str]) -> list[Instance]:
        listed = super().list_instances(tags)
        if self.calls.count(("list_instances", "")) == 1:
            raise CloudError("Rate exceeded", provider_code="Throttling")
        return listed


@pytest.mark.django_db
def test_instances_are_listed_once_an_interval_and_again_after_a_failed_listing(
    cast, settings, fake_ports
) -> None:
    settings.NODELESS_INSTANCE_LIST_SECONDS = 60
    cluster_id = str(nodeless_cluster(cast.org_a, "listed").pk)
    cache.delete(f"provisioning:instances-listed:{cluster_id}")
    cloud = fleet_ports.PORTS[cluster_id] = (FlakyCloud(), fleet_ports.ReadingKube())
    # The listing fails: the pass goes on without it (as when it is late), and the mark is not left,
    # so the next pass lists again; then once for the interval.
    assert [reconcile_cluster(cluster_id).outcome for _ in range(4)] == ["done"] * 4
    assert cloud[0].calls.count(("list_instances", "")) == 2  # the failed one, then one for the interval
    assert cloud[1].calls.count(("read",)) == 4  # every pass read the cluster
    cache.delete(f"provisioning:instances-listed:{cluster_id}")


# --- a real worker -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_due_passes_from_its_shard_queue(settings, broker, fake_ports) -> None:
    """Beat's tick, the broker, a Celery worker (in a thread, consuming shard queues of this test's
    own) and the product's task and pass, end to end."""
    from celery.contrib.testing.worker import start_worker

    organizations = [Organization.objects.create(name=name, slug=name) for name in ("fleet-a", "fleet-b")]
    clusters = [nodeless_cluster(organizations[i % 2], f"c-{i}") for i in range(3)]
    now = timezone.now()
    for cluster in clusters:
        ReconcileDue.objects.create(cluster=cluster, due_at=now - timedelta(seconds=1))
    assert schedule_due_passes(now).sent == 3
    queues = list(settings.NODELESS_SHARD_QUEUES)
    started = _database_now()
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, queues=queues):
        for cluster in clusters:
            wait_until(partial(pass_over, str(cluster.pk)))
    _end_sessions_opened_since(started)
    for cluster in clusters:
        assert fleet_ports.PORTS[str(cluster.pk)][1].calls == [("read",)]  # one pass each, no copies
    assert schedule_due_passes(now).sent == 0  # each next pass is due a period later


def _database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        (now,) = cursor.fetchone()
    return now


def _end_sessions_opened_since(started: datetime) -> None:
    """End the test database sessions the in-thread worker opened. Its pool threads keep their
    connections from task to task (CELERY_DB_REUSE_MAX, as a fleet's workers should), and a stopped
    in-thread worker never closes them: they held the test database for the rest of the session, so
    every later test that waits for other sessions to let go waited its full bound. (A real worker's
    connections end with its process.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start >= %s",
            [started],
        )
