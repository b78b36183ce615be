"""The loop's plumbing: passes enqueued when a write commits, one scheduler per organization
(the lease), beat runs it periodically, and a pass leaves a settled organization alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings

from policies.federation import services
from policies.federation.selectors import organization_ids_with_federation_work
from policies.models import Decision, Placement, WorkloadStatus
from tenants.actors import Actor
from tests.fixtures.federation import deployment, fresh, pool, settle, submit
from workers.federation import lease_name, run_pass
from workers.leases import release, try_acquire
from workers.tasks import federation_pass, federation_pass_all

pytestmark = pytest.mark.django_db


def test_every_change_enqueues_one_pass_when_it_commits(
    cast, policy, django_capture_on_commit_callbacks
) -> None:
    cheap = policy("cheap", strategy="cheapest")
    actor = Actor(user=cast.alice)
    with django_capture_on_commit_callbacks() as submitted:
        workload = services.workload_submit(cast.org_a, actor=actor, manifest=deployment(), policy=cheap)
    with django_capture_on_commit_callbacks() as scaled:
        services.workload_scale(cast.org_a, workload=workload, actor=actor, replicas=3)
    with django_capture_on_commit_callbacks() as refused, pytest.raises(Exception, match="manifest"):
        services.workload_submit(cast.org_a, actor=actor, manifest="kind: Nope", policy=cheap)
    with django_capture_on_commit_callbacks() as deleted:
        services.workload_delete(cast.org_a, workload=workload, actor=actor)
    assert [len(submitted), len(scaled), len(refused), len(deleted)] == [1, 1, 0, 1]


def test_one_scheduler_acts_for_an_organization_at_a_time(cast, member, policy) -> None:
    member("only", {"cloud": "onprem", "region": "dc"}, pools=(pool(1, "", cpu=4, memory_mib=8192),))
    workload = submit(cast, deployment(replicas=1), policy("cheap", strategy="cheapest"))
    other = try_acquire(lease_name(str(cast.org_a.pk)), ttl=timedelta(minutes=1))
    assert other is not None

    assert run_pass(str(cast.org_a.pk)) is None
    assert not Placement.objects.filter(workload=workload).exists()

    release(other)
    report = run_pass(str(cast.org_a.pk))
    assert report is not None and report.decisions == 1
    assert Placement.objects.filter(workload=workload).count() == 1


def test_a_pass_over_a_settled_organization_changes_nothing(cast, member, policy) -> None:
    member("only", {"cloud": "onprem", "region": "dc"}, pools=(pool(1, "", cpu=4, memory_mib=8192),))
    workload = submit(cast, deployment(replicas=1), policy("cheap", strategy="cheapest"))
    settle(cast, lambda: fresh(workload).status == WorkloadStatus.RUNNING)
    decisions = Decision.objects.count()

    federation_pass(str(cast.org_a.pk))
    report = run_pass(str(cast.org_a.pk))

    assert report is not None and (report.decisions, report.applied, report.removed, report.unsettled) == (
        0,
        0,
        0,
        0,
    )
    assert Decision.objects.count() == decisions


def test_beat_runs_the_loop_for_organizations_with_workloads(cast, policy) -> None:
    entries = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert federation_pass_all.name in entries
    assert organization_ids_with_federation_work() == []
    submit(cast, deployment(), policy("cheap", strategy="cheapest"))
    assert organization_ids_with_federation_work() == [str(cast.org_a.pk)]
