"""The federation loop's system services: one organization's rows loaded by id, changed in memory as
a pass decides and acts, and written only where they changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from clusters.models import Cluster, ClusterConnection
from engines.federation import schedule
from policies.federation.inputs import PolicyCache, build_fleet, schedule_inputs
from policies.federation.observation import MemberReport, ObjectState
from policies.federation.placements import (
    SYNC_STAMP_SECONDS,
    ActionOutcome,
    FederationRows,
    federation_rows_by_organization_id,
    placement_outcomes_record,
    placement_result_record,
    placements_save,
)
from policies.federation.pricing import NodeInfo
from policies.federation.snapshots import Inventory, Usage
from policies.federation.status import placements_sync, workload_statuses_save
from policies.models import Decision, FederationPolicy, Placement, PlacementState, Workload, WorkloadStatus
from tests.fixtures.federation import deployment, submit

pytestmark = pytest.mark.django_db

RACK = Inventory((NodeInfo("rack", 8000, 32768, 0, 110),), Usage())


def _cluster(organization, name: str) -> Cluster:
    return Cluster.objects.create(
        organization=organization,
        name=name,
        connection=ClusterConnection.KUBECONFIG,
        labels={"cloud": "onprem", "region": "dc-east"},
    )


@pytest.fixture
def running(cast, policy: Callable[..., FederationPolicy]) -> tuple[Workload, Placement]:
    """A Deployment of 2 replicas applied and running on dc-1."""
    cluster = _cluster(cast.org_a, "dc-1")
    workload = submit(cast, deployment(replicas=2), policy("cheap"))
    placement = Placement.objects.create(
        organization=cast.org_a,
        workload=workload,
        cluster=cluster,
        replicas=2,
        state=PlacementState.RUNNING,
        applied_generation=1,
        applied_replicas=2,
        ready_replicas=2,
    )
    return workload, placement


def _rows(cast) -> FederationRows:
    return federation_rows_by_organization_id(str(cast.org_a.pk))


def test_rows_are_one_organizations_workloads_oldest_first_with_their_placements(cast, running) -> None:
    workload, placement = running
    later = submit(cast, deployment("api", replicas=1), workload.policy)
    _cluster(cast.org_b, "elsewhere")

    rows = _rows(cast)

    assert list(rows.workloads) == [str(workload.pk), str(later.pk)]
    assert [c.name for c in rows.clusters.values()] == ["dc-1"]
    assert rows.placements == {str(workload.pk): [placement], str(later.pk): []}


def test_an_unreachable_member_marks_its_placements_unreachable_and_saving_writes_it(cast, running) -> None:
    workload, placement = running
    answered = timezone.now() - timedelta(minutes=1)
    Placement.objects.filter(pk=placement.pk).update(last_synced_at=answered)
    rows = _rows(cast)
    now = timezone.now()

    placements_sync(
        rows, {str(placement.cluster_id): MemberReport(str(placement.cluster_id), "timed out")}, now
    )
    placements_save(rows, now)

    placement.refresh_from_db()
    assert placement.state == PlacementState.UNREACHABLE
    # Synced is when the member last answered: a look that found it unreachable is not one.
    assert placement.unreachable_since == now and placement.last_synced_at == answered
    assert "dc-1 unreachable since" in placement.reason and "timed out" in placement.reason


def test_saving_writes_only_what_the_pass_changed(cast, running) -> None:
    workload, placement = running
    rows = _rows(cast)
    now = timezone.now()
    report = MemberReport(
        str(placement.cluster_id),
        inventory=RACK,
        objects={str(workload.pk): ObjectState("Deployment", 1, 2, ready=2, available=2)},
    )
    placements_sync(rows, {report.cluster_id: report}, now)
    # Someone else writes the row meanwhile; the pass found nothing to change there.
    Placement.objects.filter(pk=placement.pk).update(reason="written by someone else")

    placements_save(rows, now)

    placement.refresh_from_db()
    assert placement.reason == "written by someone else" and placement.last_synced_at == now


def _sync_and_save(cast, placement: Placement, workload: Workload, ready: int, at) -> Placement:
    rows = _rows(cast)
    report = MemberReport(
        str(placement.cluster_id),
        inventory=RACK,
        objects={str(workload.pk): ObjectState("Deployment", 1, 2, ready=ready, available=ready)},
    )
    placements_sync(rows, {report.cluster_id: report}, at)
    placements_save(rows, at)
    placement.refresh_from_db()
    return placement


def test_a_settled_placements_sync_time_is_written_at_most_every_few_seconds_a_changed_one_at_once(
    cast, running
) -> None:
    """Rewriting every placement's row each pass only to move its sync time was most of what a
    settled pass wrote; the time is written with a row that changes, else once it is old."""
    workload, placement = running
    first = timezone.now()
    assert _sync_and_save(cast, placement, workload, 2, first).last_synced_at == first

    soon = first + timedelta(seconds=SYNC_STAMP_SECONDS - 1)
    assert _sync_and_save(cast, placement, workload, 2, soon).last_synced_at == first

    later = first + timedelta(seconds=SYNC_STAMP_SECONDS + 1)
    assert _sync_and_save(cast, placement, workload, 2, later).last_synced_at == later

    changed = later + timedelta(seconds=1)
    placement = _sync_and_save(cast, placement, workload, 1, changed)
    assert (placement.ready_replicas, placement.last_synced_at) == (1, changed)


def test_an_engine_result_becomes_a_pending_placement_and_a_decision(cast, policy) -> None:
    cluster = _cluster(cast.org_a, "dc-1")
    workload = submit(cast, deployment(replicas=2), policy("cheap"))
    rows = _rows(cast)
    now = timezone.now()
    workload = rows.workloads[str(workload.pk)]
    fleet = build_fleet(list(rows.clusters.values()), {str(cluster.pk): RACK}, rows.workloads, [])
    inputs = schedule_inputs(workload, [], now, PolicyCache())
    result = schedule(inputs.spec, inputs.policy, fleet, inputs.current)

    placement_result_record(rows, workload, result, inputs.failure, now)
    placements_save(rows, now)

    stored = Placement.objects.get(workload=workload)
    assert (stored.cluster_id, stored.replicas, stored.state) == (cluster.pk, 2, PlacementState.PENDING)
    decision = Decision.objects.get(workload=workload)
    assert decision.chosen["replicas"] == {"dc-1": 2} and decision.reason == result.decision.reason
    assert workload.scheduled_generation == workload.generation and workload.placement_changed_at == now


def test_a_refused_apply_fails_the_placement_and_a_done_removal_forgets_it(cast, running) -> None:
    workload, placement = running
    other = submit(cast, deployment("api", replicas=1), workload.policy)
    removed = Placement.objects.create(
        organization=cast.org_a, workload=other, cluster=placement.cluster, state=PlacementState.REMOVING
    )
    Workload.objects.filter(pk=other.pk).update(deleted_at=timezone.now())
    rows = _rows(cast)
    now = timezone.now()
    outcomes = [
        ActionOutcome(str(placement.pk), remove=False, done=False, message="forbidden"),
        ActionOutcome(str(removed.pk), remove=True, done=True),
    ]

    assert placement_outcomes_record(rows, outcomes, now) == (0, 1, 1)

    placement.refresh_from_db()
    assert placement.state == PlacementState.FAILING and placement.failure_count == 1
    assert placement.failing_since == now and placement.reason == "dc-1: forbidden"
    assert not Placement.objects.filter(pk=removed.pk).exists()
    assert not Workload.objects.filter(pk=other.pk).exists() and str(other.pk) not in rows.workloads


def test_outcomes_of_an_earlier_pass_record_what_they_did_not_what_is_wanted_now(cast, running) -> None:
    """Outcomes recorded a pass after their applies started (passes back to back): an apply is
    recorded at the generation and replicas it sent, so a placement scaled meanwhile is applied
    again; a removal done where this pass placed the workload again is applied again, not
    deleted; an outcome whose placement is gone since (its cluster disconnected) is skipped."""
    workload, placement = running
    other = submit(cast, deployment("api", replicas=1), workload.policy)
    placed_again = Placement.objects.create(
        organization=cast.org_a, workload=other, cluster=placement.cluster, replicas=1, applied_generation=1
    )
    Placement.objects.filter(pk=placement.pk).update(replicas=3)  # scaled while the apply of 2 ran
    Workload.objects.filter(pk=workload.pk).update(generation=2)
    rows = _rows(cast)
    outcomes = [
        ActionOutcome(str(placement.pk), remove=False, done=True, applied=(1, 2)),
        ActionOutcome(str(placed_again.pk), remove=True, done=True),
        ActionOutcome("00000000-0000-0000-0000-000000000000", remove=False, done=True, applied=(1, 1)),
    ]

    assert placement_outcomes_record(rows, outcomes, timezone.now()) == (1, 1, 0)

    placement.refresh_from_db()
    assert (placement.applied_generation, placement.applied_replicas, placement.replicas) == (1, 2, 3)
    placed_again.refresh_from_db()
    assert (placed_again.applied_generation, placed_again.state) == (0, PlacementState.PENDING)


def test_statuses_are_written_but_never_over_a_deletion_made_meanwhile(cast, running) -> None:
    workload, _ = running
    later = submit(cast, deployment("api", replicas=1), workload.policy)
    rows = _rows(cast)
    Workload.objects.filter(pk=later.pk).update(
        deleted_at=timezone.now() - timedelta(seconds=1), status=WorkloadStatus.DELETING
    )

    unsettled = workload_statuses_save(rows)

    assert unsettled == 1  # "api" has no placement yet
    workload.refresh_from_db()
    assert workload.status == WorkloadStatus.RUNNING and workload.status_message.startswith("2/2 ready")
    later.refresh_from_db()
    assert later.status == WorkloadStatus.DELETING
