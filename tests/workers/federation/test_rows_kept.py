"""A task refreshes the rows this process's last task of the organization left, instead of reading
every row again, when no other worker has held the organization's lease since (``HeldLease.takes``);
otherwise, or when that task failed part-way, it reads them all."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from policies.models import Placement, Workload
from tests.fixtures.federation import deployment, pool, submit
from workers.federation import run_pass, runner
from workers.leases import release, try_acquire

pytestmark = pytest.mark.django_db

_WORKLOADS = f'FROM "{Workload._meta.db_table}" WHERE "{Workload._meta.db_table}"."organization_id" ='
_PLACEMENTS = f'WHERE "{Placement._meta.db_table}"."organization_id" ='


@pytest.fixture
def onprem(member):
    return member("onprem", {"cloud": "onprem"}, pools=(pool(2, "m5.4xlarge"),))


def _task(organization_id: str) -> tuple[int, int]:
    """Run one task; how many times it read every workload row, and every placement row."""
    with CaptureQueriesContext(connection) as queries:
        run_pass(organization_id)
    statements = [query["sql"] for query in queries.captured_queries]
    whole_workloads = [sql for sql in statements if _WORKLOADS in sql and '"manifest"' in sql]
    placements = f'FROM "{Placement._meta.db_table}"'
    return len(whole_workloads), sum(placements in sql and _PLACEMENTS in sql for sql in statements)


def test_the_next_task_refreshes_the_rows_its_last_task_left(cast, onprem, policy) -> None:
    cheap = policy("cheap", strategy="cheapest")
    submit(cast, deployment(name="web-0", replicas=1), cheap)
    organization_id = str(cast.org_a.pk)
    assert _task(organization_id) == (1, 1)  # nothing kept yet: every row read

    submit(cast, deployment(name="web-1", replicas=1), cheap)  # the API's change between tasks
    assert _task(organization_id) == (0, 0)
    assert onprem.deployment_replicas("shop", "web-0") == onprem.deployment_replicas("shop", "web-1") == 1
    placed = Placement.objects.filter(workload__organization=cast.org_a, replicas=1)
    assert sorted(p.workload.name for p in placed) == ["web-0", "web-1"]


def test_a_task_after_another_worker_held_the_lease_reads_every_row(cast, onprem, policy) -> None:
    cheap = policy("cheap", strategy="cheapest")
    submit(cast, deployment(name="web-0", replicas=1), cheap)
    organization_id = str(cast.org_a.pk)
    _task(organization_id)
    other = try_acquire(runner.lease_name(organization_id), ttl=runner.LEASE_TTL)  # another worker
    assert other is not None
    release(other)
    assert _task(organization_id) == (1, 1)
    assert _task(organization_id) == (0, 0)  # and the task after it refreshes again


def test_a_task_that_failed_part_way_keeps_nothing(cast, onprem, policy, monkeypatch) -> None:
    """A pass that raised may have left its rows half-changed: the next task reads every row."""
    cheap = policy("cheap", strategy="cheapest")
    submit(cast, deployment(name="web-0", replicas=1), cheap)
    organization_id = str(cast.org_a.pk)
    _task(organization_id)

    def broken(*args, **kwargs):  # the crash injected: the connection lost while writing
        raise ConnectionResetError("the database went away mid-pass")

    monkeypatch.setattr(runner, "placements_save", broken)
    with pytest.raises(ConnectionResetError):
        run_pass(organization_id)
    monkeypatch.undo()
    assert _task(organization_id)[0] == 1
