"""``rows_update``: many rows of one table, each with its own values, in one statement on PostgreSQL
(one wait on the database instead of one per row), written exactly as a save would write them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nodeless_saas.rows_update import rows_update
from policies.models import Workload, WorkloadStatus
from tests.fixtures.federation import deployment, submit

pytestmark = pytest.mark.django_db

AWKWARD = {"note": 'quotes " and \\ backslashes, {braces}', "é": ["ü", None, 1.5]}


@pytest.fixture
def workloads(cast, policy) -> list[Workload]:
    cheap = policy("cheap")
    return [submit(cast, deployment(f"web-{number}", replicas=1), cheap) for number in range(3)]


def test_each_row_gets_its_own_values_in_one_statement(workloads) -> None:
    moment = timezone.now() - timedelta(minutes=3)
    names = ("status", "status_message", "ready_replicas", "avoid_clusters", "placement_changed_at")
    rows = [
        (workloads[0].pk, [WorkloadStatus.RUNNING, "1/1 ready: dc-1.", 1, AWKWARD, moment]),
        (workloads[1].pk, [WorkloadStatus.PLACED, 'it\'s "starting"', 0, {}, None]),
    ]

    with CaptureQueriesContext(connection) as queries:
        rows_update(Workload, names, rows)

    updates = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    first, second, untouched = (Workload.objects.get(pk=w.pk) for w in workloads)
    assert (first.status, first.status_message, first.ready_replicas) == ("running", "1/1 ready: dc-1.", 1)
    assert first.avoid_clusters == AWKWARD
    assert first.placement_changed_at == moment
    assert (second.status, second.status_message, second.avoid_clusters) == ("placed", 'it\'s "starting"', {})
    assert second.placement_changed_at is None
    assert untouched.status == workloads[2].status


def test_a_row_marked_deleted_since_it_was_read_is_left_as_the_deleter_left_it(workloads) -> None:
    read_live, read_deleted = workloads[0], workloads[1]
    Workload.objects.filter(pk__in=[read_live.pk, read_deleted.pk]).update(
        deleted_at=timezone.now(), status=WorkloadStatus.DELETING
    )

    rows_update(
        Workload,
        ("status",),
        [(read_live.pk, [WorkloadStatus.RUNNING]), (read_deleted.pk, [WorkloadStatus.FAILED])],
        null_as_read=("deleted_at", [True, False]),
    )

    assert Workload.objects.get(pk=read_live.pk).status == WorkloadStatus.DELETING
    assert Workload.objects.get(pk=read_deleted.pk).status == WorkloadStatus.FAILED


def test_a_text_longer_than_its_column_is_refused_not_cut(workloads) -> None:
    too_long = "x" * (Workload._meta.get_field("status_message").max_length + 1)  # type: ignore[operator]

    with pytest.raises(DataError), transaction.atomic():
        rows_update(Workload, ("status_message",), [(workloads[0].pk, [too_long])])

    assert Workload.objects.get(pk=workloads[0].pk).status_message == workloads[0].status_message
