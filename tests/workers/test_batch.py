"""Coalesced passes: a batch of clusters reconciled in one task, each with its own pass and lease.

Against the real PostgreSQL (the batch's passes run on the pass pool's threads, each with its own
connection, so these tests commit: `transaction=True`) and Redis, the product's batch entry points,
and the cluster's I/O through in-memory ports (`fleet_ports`)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engines.kube.cluster import ClusterState
from tenants.models import Organization
from tests.workers import fleet_ports
from tests.workers.test_fleet import forget, nodeless_cluster, own_shard_queues, queued_passes
from workers import enqueue
from workers.leases import try_acquire
from workers.models import Lease
from workers.provisioning import batch
from workers.provisioning.reconcile import ReconcileReport, lease_name, reconcile_batch
from workers.routing import shard_queue
from workers.schedule import batches

TTL = timedelta(seconds=60)


@pytest.fixture
def fake_ports(settings) -> Iterator[None]:
    settings.NODELESS_PROVISIONING_PORTS = "tests.workers.fleet_ports.fake_ports"
    fleet_ports.PORTS.clear()
    yield
    batch.shutdown()  # the pool's threads hold connections to the test database


@pytest.fixture
def shard_queues(settings, monkeypatch) -> Iterator[redis.Redis]:
    yield from own_shard_queues(settings, monkeypatch)


def clusters(count: int) -> list[str]:
    organizations = [
        Organization.objects.create(name=f"Batch {i}", slug=f"batch-{uuid.uuid4().hex[:8]}") for i in range(2)
    ]
    return [str(nodeless_cluster(organizations[i % 2], f"c-{i}").pk) for i in range(count)]


class BlockedKube(fleet_ports.ReadingKube):
    """An API server that answers the pass's read only once the test lets it."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def read(self, now: datetime) -> ClusterState:
        assert self.release.wait(30), "the test never let the slow cluster answer"
        return super().read(now)


class BrokenKube(fleet_ports.ReadingKube):
    def read(self, now: datetime) -> ClusterState:
        raise RuntimeError("the API server answered nonsense")


def leased(cluster_id: str) -> bool:
    """Held: a released lease keeps its row, expired."""
    return Lease.objects.filter(name=lease_name(cluster_id), expires_at__gt=timezone.now()).exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_pays_its_fixed_costs_once_and_passes_over_a_cluster_leased_elsewhere(fake_ports) -> None:
    ids = clusters(5)
    other = try_acquire(lease_name(ids[2]), ttl=TTL)  # another worker is passing over this one
    assert other is not None
    with CaptureQueriesContext(connection) as queries:
        reports = reconcile_batch(ids)
    assert [report.outcome for report in reports] == ["done", "done", "busy", "done", "done"]
    statements = [query["sql"] for query in queries.captured_queries]
    # The calling thread's statements: whatever the batch's size, one reads the clusters, one takes
    # every lease and one reads every policy (the passes' own run on the pool's threads).
    assert sum(sql.startswith('SELECT "clusters_cluster"') for sql in statements) == 1
    assert sum(sql.startswith("INSERT INTO workers_lease") for sql in statements) == 1
    assert sum('FROM "policies_provisioningpolicy"' in sql for sql in statements) == 1
    assert sum('FROM "clusters_managednode"' in sql for sql in statements) == 1  # every cluster's rows
    assert fleet_ports.PORTS.get(ids[2]) is None  # the busy cluster was not touched
    for cluster_id in (ids[0], ids[1], ids[3], ids[4]):
        assert ("read",) in fleet_ports.PORTS[cluster_id][1].calls  # one pass each
        assert not leased(cluster_id)  # released
    assert Lease.objects.get(name=lease_name(ids[2])).holder == other.holder  # left to its holder


@pytest.mark.django_db(transaction=True)
def test_an_idle_cluster_alone_costs_five_statements(fake_ports) -> None:
    [cluster_id] = clusters(1)
    reconcile_batch([cluster_id])  # warm: the catalog
    with CaptureQueriesContext(connection) as queries:
        [report] = reconcile_batch([cluster_id])
    assert report.outcome == "done"
    # The cluster, its lease, its policy, its rows, the lease released (no transaction around it): no
    # fresh read of its instances when the cloud listed none the rows do not own.
    assert len(queries.captured_queries) == 5, [query["sql"][:60] for query in queries.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_a_slow_cluster_in_a_batch_keeps_only_its_own_lease(fake_ports) -> None:
    ids = clusters(4)
    answer = threading.Event()
    fleet_ports.PORTS[ids[0]] = (fleet_ports.ReadingCloud(), BlockedKube(answer))
    heard: list[list[ReconcileReport]] = []
    others_done = threading.Event()

    def on_done(reports: list[ReconcileReport]) -> None:
        heard.append(reports)
        if sum(len(ended) for ended in heard) == 3:
            others_done.set()

    outcome: list[list[ReconcileReport]] = []
    runner = threading.Thread(target=lambda: outcome.append(reconcile_batch(ids, on_done=on_done)))
    runner.start()
    try:
        assert others_done.wait(30), "the fast clusters' passes waited for the slow one"
        assert sorted(report.cluster_id for ended in heard for report in ended) == sorted(ids[1:])
        assert all(not leased(cluster_id) for cluster_id in ids[1:])  # released as their passes ended
        assert leased(ids[0])  # the slow cluster's pass is still under way, under its lease
    finally:
        answer.set()
        runner.join(30)
    assert [report.outcome for report in outcome[0]] == ["done"] * 4
    assert not leased(ids[0])


@pytest.mark.django_db(transaction=True)
def test_a_failing_pass_in_a_batch_is_its_own(fake_ports) -> None:
    ids = clusters(3)
    fleet_ports.PORTS[ids[1]] = (fleet_ports.ReadingCloud(), BrokenKube())
    reports = reconcile_batch(ids)
    assert [report.outcome for report in reports] == ["done", "failed", "done"]
    assert not any(leased(cluster_id) for cluster_id in ids)  # the next pass may run at once


@pytest.mark.django_db(transaction=True)
def test_the_batch_task_clears_each_mark_and_honours_requests_made_meanwhile(
    fake_ports, shard_queues
) -> None:
    from workers.tasks import provisioning_reconcile_batch

    ids = clusters(3)
    # The scheduler queued them; a pod changed on the second while its pass ran (`request_reconcile`
    # sees the pass running and asks for one more after it).
    enqueue.reconcile_started_many(ids)
    assert enqueue.request_reconcile(ids[1]) is False
    ended = provisioning_reconcile_batch.apply(args=(ids,), kwargs={"dues": [0.0, 0.0, 0.0]}).get()
    assert sorted((cluster_id, outcome) for cluster_id, outcome, _ in ended) == sorted(
        (cluster_id, "done") for cluster_id in ids
    )
    assert not queued_passes(shard_queues, ids[0]) and not queued_passes(shard_queues, ids[2])
    assert sum(queued_passes(shard_queues, ids[1]).values()) == 1  # exactly one more pass, after it
    for cluster_id in ids:
        forget(cluster_id)


def test_due_passes_are_cut_into_batches_of_one_shard_in_turn_order() -> None:
    now = datetime(2026, 1, 1)
    rows = [(str(uuid.uuid4()), f"org-{i % 3}", now) for i in range(60)]
    cut = batches(rows, 4)
    assert sorted(row for part in cut for row in part) == sorted(rows)  # every pass, once
    for part in cut:
        assert 1 <= len(part) <= 4
        assert len({shard_queue(row[0]) for row in part}) == 1  # a batch's task goes to its shard
        positions = [rows.index(row) for row in part]
        assert positions == sorted(positions)  # turn order within a batch
    firsts = [rows.index(part[0]) for part in cut]
    assert firsts == sorted(firsts)  # and between batches
