"""A federated Deployment's Progressing condition follows the deployment controller's rules
(``policies.kubeapi.progress``): it times out after ``progressDeadlineSeconds`` without progress,
comes back once the Deployment progresses, and a completed rollout that loses replicas later is not
a rollout that timed out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policies.kubeapi import progress

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _status(generation: int = 1, updated: int = 0, ready: int = 0, available: int = 0) -> dict:
    return {
        "observedGeneration": generation,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
    }


def _after(before: dict, now_status: dict, seconds: float, *, complete: bool = False, spec=None) -> dict:
    found = progress.condition(
        "web",
        spec or {},
        before,
        now_status,
        complete=complete,
        message="Cannot be placed: no member has room",
        now=START + timedelta(seconds=seconds),
    )
    return {**now_status, "conditions": [found]}


def _progressing(status: dict) -> tuple[str, str]:
    found = status["conditions"][0]
    return found["status"], found["reason"]


def test_without_progress_for_the_deadline_it_times_out_and_progress_brings_it_back() -> None:
    first = _after({}, _status(), 0)
    assert _progressing(first) == ("True", "ReplicaSetUpdated")
    assert progress.deadline(first, {}) == START + timedelta(seconds=601)
    waiting = _after(first, _status(), 600)
    assert _progressing(waiting) == ("True", "ReplicaSetUpdated")
    assert waiting["conditions"][0]["lastUpdateTime"] == first["conditions"][0]["lastUpdateTime"]

    timed_out = _after(waiting, _status(), 601)
    assert _progressing(timed_out) == ("False", progress.TIMED_OUT)
    assert timed_out["conditions"][0]["message"] == (
        'Deployment "web" has timed out progressing: Cannot be placed: no member has room'
    )
    assert progress.deadline(timed_out, {}) is None  # nothing more will happen with time alone
    assert _progressing(_after(timed_out, _status(), 5000)) == ("False", progress.TIMED_OUT)

    one_ready = _after(timed_out, _status(updated=1, ready=1), 5001)
    assert _progressing(one_ready) == ("True", "ReplicaSetUpdated")
    assert one_ready["conditions"][0]["lastTransitionTime"] == "2026-12-07T13:23:21Z"


def test_the_deadline_is_the_deployments_own() -> None:
    spec = {"progressDeadlineSeconds": 30}
    first = _after({}, _status(), 0, spec=spec)
    assert _progressing(_after(first, _status(), 29, spec=spec)) == ("True", "ReplicaSetUpdated")
    assert _progressing(_after(first, _status(), 31, spec=spec)) == ("False", progress.TIMED_OUT)


def test_a_completed_rollout_that_loses_replicas_has_not_timed_out_until_a_new_rollout() -> None:
    done = _after(_after({}, _status(), 0), _status(updated=2, ready=2, available=2), 10, complete=True)
    assert _progressing(done) == ("True", "NewReplicaSetAvailable")
    lost = _after(done, _status(updated=2, ready=1, available=1), 5000)
    assert _progressing(lost) == ("True", "NewReplicaSetAvailable")
    rollout = _after(lost, _status(generation=2, updated=0, ready=1, available=1), 5010)
    assert _progressing(rollout) == ("True", "ReplicaSetUpdated")
    assert _progressing(_after(rollout, _status(generation=2, ready=1, available=1), 5700)) == (
        "False",
        progress.TIMED_OUT,
    )


def test_a_paused_deployment_runs_no_deadline_and_says_when_it_is_resumed() -> None:
    first = _after({}, _status(), 0)
    paused = _after(first, _status(), 10, spec={"paused": True})
    assert _progressing(paused) == ("Unknown", progress.PAUSED)
    assert progress.deadline(paused, {"paused": True}) is None
    assert _progressing(_after(paused, _status(), 5000, spec={"paused": True})) == (
        "Unknown",
        progress.PAUSED,
    )

    resumed = _after(paused, _status(), 5010)
    assert _progressing(resumed) == ("Unknown", progress.RESUMED)
    assert progress.deadline(resumed, {}) == START + timedelta(seconds=5010 + 601)
    assert _progressing(_after(resumed, _status(), 5010 + 601)) == ("False", progress.TIMED_OUT)
    assert _progressing(_after(resumed, _status(updated=1), 5020)) == ("True", "ReplicaSetUpdated")
