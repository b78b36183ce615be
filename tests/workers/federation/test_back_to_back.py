"""Passes back to back (issue 16): while workloads keep arriving, a pass leaves its applies running
and the task runs the next pass at once, under the same lease; that pass records their outcomes
before it acts, so nothing is applied twice and nothing is lost. A pass with nothing new arriving
(or nothing to apply) waits for its own applies, as it always did, and ends the task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from policies.kubeapi.status_back import statuses_sync
from policies.models import Placement, PlacementState, Workload
from tests.fixtures.federation import deployment, pool, submit
from tests.fixtures.simulation import audited_requests
from workers.federation import observe, run_pass, runner, scheduling

pytestmark = pytest.mark.django_db

DEPLOYMENTS = "PATCH /apis/apps/v1/namespaces/shop/deployments/"


@pytest.fixture
def onprem(member):
    return member("onprem", {"cloud": "onprem"}, pools=(pool(2, "m5.4xlarge"),))


def _submitted(cast, policy) -> list[Workload]:
    cheap = policy("cheap", strategy="cheapest")
    return [submit(cast, deployment(name=f"web-{number}", replicas=1), cheap) for number in range(3)]


def _applied(workloads: list[Workload]) -> set[tuple[int, int, str]]:
    placements = Placement.objects.filter(workload__in=workloads)
    return {(p.applied_generation, p.applied_replicas, p.state) for p in placements}


def test_while_workloads_keep_arriving_passes_run_back_to_back_and_apply_each_once(
    cast, onprem, policy, monkeypatch
) -> None:
    # Each look asks the member (as for a policy whose grace period is 0): they are counted.
    monkeypatch.setattr(observe, "HEARD_SECONDS", 0.0)
    monkeypatch.setattr(observe, "LIVENESS_SECONDS", 0.0)
    workloads = _submitted(cast, policy)
    # An edit the clock puts after every pass's read: each pass finds more work arriving.
    Workload.objects.filter(pk=workloads[0].pk).update(updated_at=timezone.now() + timedelta(hours=1))
    asked = audited_requests(onprem.sim, monkeypatch)

    run_pass(str(cast.org_a.pk))

    # Two passes (one look at the member each): the first left its applies running; the second
    # recorded their outcomes before it acted, so it applied nothing again, and having nothing to
    # apply it ended the task. Every outcome is recorded when the task ends.
    assert asked.count("GET /version") == 2
    applies = sorted(request for request in asked if request.startswith(DEPLOYMENTS))
    assert applies == [f"{DEPLOYMENTS}web-{number}" for number in range(3)]
    assert {(generation, replicas) for generation, replicas, _ in _applied(workloads)} == {(1, 1)}
    assert all(onprem.deployment_replicas("shop", f"web-{number}") == 1 for number in range(3))


def test_a_pass_does_not_decide_again_what_the_pass_before_is_still_applying(
    cast, onprem, policy, monkeypatch
) -> None:
    """The second pass of a task finds the first one's applies still running: those workloads were
    decided at their generation a moment ago, so it records the outcomes and decides nothing."""
    workloads = _submitted(cast, policy)
    Workload.objects.filter(pk=workloads[0].pk).update(updated_at=timezone.now() + timedelta(hours=1))
    decided = _counting_decisions(monkeypatch)

    run_pass(str(cast.org_a.pk))

    assert sorted(decided) == sorted(w.name for w in workloads)
    assert all(onprem.deployment_replicas("shop", f"web-{number}") == 1 for number in range(3))


def _counting_decisions(monkeypatch) -> list[str]:
    """The names of the workloads the passes decide from now on, in order."""
    decided: list[str] = []
    decide = scheduling.decide

    def counted(workload: Workload, *args: Any, **kwargs: Any) -> Any:
        decided.append(workload.name)
        return decide(workload, *args, **kwargs)

    monkeypatch.setattr(scheduling, "decide", counted)
    return decided


def test_with_nothing_new_arriving_a_pass_waits_for_its_own_applies(
    cast, onprem, policy, monkeypatch
) -> None:
    # Each look asks the member (as for a policy whose grace period is 0): they are counted.
    monkeypatch.setattr(observe, "HEARD_SECONDS", 0.0)
    monkeypatch.setattr(observe, "LIVENESS_SECONDS", 0.0)
    workloads = _submitted(cast, policy)
    asked = audited_requests(onprem.sim, monkeypatch)

    run_pass(str(cast.org_a.pk))

    assert asked.count("GET /version") == 1
    assert {state for _, _, state in _applied(workloads)} <= {PlacementState.APPLIED, PlacementState.RUNNING}
    assert {(generation, replicas) for generation, replicas, _ in _applied(workloads)} == {(1, 1)}


@pytest.mark.parametrize("status_seconds", [runner.STATUS_SECONDS, 0.0])
def test_a_task_right_after_another_syncs_the_endpoints_statuses_only_when_it_ends(
    cast, onprem, policy, monkeypatch, status_seconds
) -> None:
    """The task before synced as it ended; the next one's first pass, leaving its applies running,
    does not sync again within ``STATUS_SECONDS`` (each sync holds the organization's counter and
    delays the next decisions); its last pass syncs as every task's does."""
    monkeypatch.setattr(runner, "STATUS_SECONDS", status_seconds)
    workloads = _submitted(cast, policy)
    run_pass(str(cast.org_a.pk))  # ends with a sync
    synced: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> int:
        synced.append(1)
        return statuses_sync(*args, **kwargs)

    monkeypatch.setattr(runner, "statuses_sync", counted)
    more = submit(cast, deployment(name="web-more", replicas=1), workloads[0].policy)
    # An edit the clock puts after every pass's read: each pass finds more work arriving.
    Workload.objects.filter(pk=more.pk).update(updated_at=timezone.now() + timedelta(hours=1))

    report = run_pass(str(cast.org_a.pk))

    assert report is not None and onprem.deployment_replicas("shop", "web-more") == 1
    assert len(synced) == (1 if status_seconds else 2)


@pytest.mark.parametrize(
    ("task_before", "follow_up", "steady_seconds", "decides_all"),
    [
        ("cut short", False, runner.STEADY_SECONDS, False),
        ("cut short", False, 0.0, True),
        ("carried on", False, runner.STEADY_SECONDS, False),
        ("ended", True, runner.STEADY_SECONDS, False),
        ("ended", True, 0.0, True),
        ("ended", False, runner.STEADY_SECONDS, True),
    ],
)
def test_a_task_carrying_a_burst_on_or_following_up_decides_only_what_is_not_steady(
    cast, onprem, policy, monkeypatch, task_before, follow_up, steady_seconds, decides_all
) -> None:
    """A task cut short by ``MAX_PASSES`` with workloads still arriving leaves the burst to the next
    task, and a follow-up is queued to watch workloads start: the first pass of either is a
    following one - the workloads already placed and applied are not decided again, and a member
    heard from lately is not asked its version; so is the first pass of the task after one that
    carried a burst on. Once ``STEADY_SECONDS`` have passed since every workload was decided, or
    after a task that ended on its own outside a burst, the next task decides them all."""
    monkeypatch.setattr(runner, "STEADY_SECONDS", steady_seconds)
    monkeypatch.setattr(observe, "HEARD_SECONDS", 600.0)  # the member's watches count as just heard
    monkeypatch.setattr(observe, "LIVENESS_SECONDS", 0.0)  # but a pass deciding all asks every member
    workloads = _submitted(cast, policy)
    if task_before in ("cut short", "carried on"):
        monkeypatch.setattr(runner, "MAX_PASSES", 1)
        # An edit the clock puts after every pass's read: the task's only pass finds more arriving.
        Workload.objects.filter(pk=workloads[0].pk).update(updated_at=timezone.now() + timedelta(hours=1))
    run_pass(str(cast.org_a.pk))
    if task_before == "carried on":  # the burst is over, and the task carrying it on ended on its own
        Workload.objects.filter(pk=workloads[0].pk).update(updated_at=timezone.now())
        run_pass(str(cast.org_a.pk))
    assert {(generation, replicas) for generation, replicas, _ in _applied(workloads)} == {(1, 1)}
    decided = _counting_decisions(monkeypatch)
    asked = audited_requests(onprem.sim, monkeypatch)
    more = submit(cast, deployment(name="web-more", replicas=1), workloads[0].policy)

    run_pass(str(cast.org_a.pk), follow_up=follow_up)

    assert onprem.deployment_replicas("shop", "web-more") == 1
    if decides_all:
        assert sorted(decided) == sorted([*(w.name for w in workloads), more.name])
        assert asked.count("GET /version") == 1
    else:
        assert decided == ["web-more"] and "GET /version" not in asked


def test_at_rest_a_task_asks_a_member_that_answered_within_its_window_nothing(
    cast, onprem, policy, monkeypatch
) -> None:
    """Every task's first pass asked every member its version: at 100 members, a fifth of an
    organization's CPU at rest. A member that answered within ``liveness_seconds`` (30 s, or the
    shortest grace period of the organization's policies) is not asked again; once an organization
    has a policy whose grace period is 0, every task's first pass asks again."""
    workloads = _submitted(cast, policy)  # the default grace period: 120 s
    run_pass(str(cast.org_a.pk))
    assert {(generation, replicas) for generation, replicas, _ in _applied(workloads)} == {(1, 1)}
    asked = audited_requests(onprem.sim, monkeypatch)

    run_pass(str(cast.org_a.pk))
    assert "GET /version" not in asked

    submit(cast, deployment(name="web-now", replicas=1), policy("now", grace_period_seconds=0))
    run_pass(str(cast.org_a.pk))
    assert asked.count("GET /version") == 1
    assert onprem.deployment_replicas("shop", "web-now") == 1
