"""Replaying a draft policy over a cluster's recorded period: started from the API and the policy
editor, run by the Celery task in bounded steps, read back side by side with what happened."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from billing.models import ReplayRun, ReplayState, UsageInterval
from billing.replay_view import ReplayView
from billing.services import replay as replay_service
from engines.metering.money import usd
from tests.billing.ledger_builders import make_cluster, minutes, record_minutes, shop_pods
from tests.fixtures.provisioning import BASE_POLICY

pytestmark = pytest.mark.django_db

STEP = "workers.tasks.billing_replay_step"


def _recorded_cluster(organization):
    """Forty recorded minutes two hours ago: three pods for twenty, then the Job's pod is gone."""
    cluster = make_cluster(organization, "shop")
    first = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    record_minutes(cluster, minutes(first, 20))
    record_minutes(cluster, minutes(first + timedelta(minutes=20), 20), pods=shop_pods()[:2])
    return cluster


def _start(api, target, worker, **body):
    payload = {"cluster": str(target.pk), "window": "24h", "policy": {}, **body}
    with worker.committing():
        return api.post("/api/v1/replays/", payload, format="json")


def test_the_api_starts_a_replay_that_the_task_runs_in_steps_to_a_side_by_side_result(
    cast, api_a, worker
) -> None:
    cluster = _recorded_cluster(cast.org_a)
    response = _start(api_a, cluster, worker)
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert response.json()["state"] == "queued" and response.json()["progress"] == 0
    assert worker.sent == [(STEP, (run_id,))]  # enqueued once the run's row was committed

    ran = worker.run()
    run = ReplayRun.objects.get(pk=run_id)
    assert run.state == ReplayState.DONE, run.error
    assert len(ran) == run.steps_total == run.steps_done >= 2  # the replay, bound steps, the result

    body = api_a.get(f"/api/v1/replays/{run_id}/").json()
    assert body["progress"] == 1.0
    result = body["result"]
    assert result["pods"] == 3  # two web pods all along, the Job's pod for twenty minutes
    recorded = UsageInterval.objects.filter(cluster=cluster).aggregate(spend=Sum("node_cost"))["spend"]
    assert result["actual"]["spend"] == usd(recorded)  # USD to the cent
    assert result["actual"]["peak_nodes"] == 2
    assert Decimal(result["replayed"]["spend"]) > 0
    assert result["replayed"]["peak_nodes"] >= 1 and result["unplaced_pods"] == 0
    # Money is decimal strings; the bound is below what the draft's own schedule costs on its measure.
    assert isinstance(result["lower_bound_effective_spend"], str)
    bound, effective = (
        Decimal(result["lower_bound_effective_spend"]),
        Decimal(result["replayed_effective_spend"]),
    )
    assert 0 < bound <= effective
    assert result["above_lower_bound_pct"] >= 0


def test_a_step_delivered_twice_writes_once(cast, api_a, worker) -> None:
    cluster = _recorded_cluster(cast.org_a)
    run_id = _start(api_a, cluster, worker).json()["id"]
    stale = ReplayRun.objects.select_related("cluster").get(pk=run_id)
    assert replay_service.replay_step(run_id) is True  # the first delivery does the replay
    after_first = ReplayRun.objects.get(pk=run_id)
    assert replay_service._step(stale) is False  # a second delivery of the same step finds it done
    again = ReplayRun.objects.get(pk=run_id)
    assert (
        (again.steps_done, again.work) == (after_first.steps_done, after_first.work) == (1, after_first.work)
    )


def test_an_empty_period_finishes_with_zeros_not_an_error(cast, api_a, worker) -> None:
    cluster = make_cluster(cast.org_a, "quiet")
    run_id = _start(api_a, cluster, worker, window="7d").json()["id"]
    worker.run()
    run = ReplayRun.objects.get(pk=run_id)
    assert run.state == ReplayState.DONE and run.result["pods"] == 0
    assert run.result["replayed"]["spend"] == 0 and run.result["lower_bound"]["effective_spend"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"window": "3d"}, "window"),
        ({"window": ""}, "window"),
        ({"policy": {"objective": "fastest"}}, "policy"),
        ({"policy": {"min_vcpu": 8, "max_vcpu": 2}}, "policy.max_vcpu"),
        ({"policy": {"families_allow": ["m9zz"]}}, "policy.families_allow"),
        ({"cluster": "not-a-uuid"}, "cluster"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_starts_nothing(cast, api_a, worker, body, field) -> None:
    cluster = make_cluster(cast.org_a, "shop")
    response = _start(api_a, cluster, worker, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert not ReplayRun.objects.exists() and not worker.sent


def test_an_outsider_can_neither_replay_nor_read_another_organizations_cluster(
    cast, api_a, api_b, worker
) -> None:
    cluster = _recorded_cluster(cast.org_a)
    assert _start(api_b, cluster, worker).status_code == 404
    assert not ReplayRun.objects.exists()
    run_id = _start(api_a, cluster, worker).json()["id"]
    assert api_b.get(f"/api/v1/replays/{run_id}/").status_code == 404
    assert api_b.get("/api/v1/replays/").json()["results"] == []


def _form(**changes) -> dict:
    data = {**BASE_POLICY, **changes}
    return {k: v for k, v in data.items() if v is not None}


def test_the_editor_starts_a_replay_whose_panel_polls_progress_then_shows_the_comparison(
    cast, owner_client, worker
) -> None:
    cluster = _recorded_cluster(cast.org_a)
    editor = owner_client.get(f"/clusters/{cluster.pk}/policy/").content.decode()
    assert "Replay this draft" in editor and 'name="replay_window"' in editor and "js/replay.js" in editor
    with worker.committing():
        started = owner_client.post(
            "/policies/provisioning/replays/",
            _form(replay_cluster=str(cluster.pk), replay_window="24h"),
        )
    assert started.status_code == 201
    run = ReplayRun.objects.get()
    html = started.content.decode()
    assert "<progress" in html and f"/policies/replays/{run.pk}/progress/" in html
    progress = owner_client.get(f"/policies/replays/{run.pk}/progress/").json()
    assert progress == {
        "id": str(run.pk),
        "state": "queued",
        "progress": 0.0,
        "steps_done": 0,
        "steps_total": 1,
        "finished": False,
        "panel": f"/policies/replays/{run.pk}/panel/",
    }
    worker.run()
    assert owner_client.get(f"/policies/replays/{run.pk}/progress/").json()["finished"] is True
    panel = owner_client.get(f"/policies/replays/{run.pk}/panel/").content.decode()
    assert "What happened" in panel and "This draft, replayed" in panel and "Lowest possible" in panel
    assert "<progress" not in panel and "data-replay-progress" not in panel
    page = owner_client.get(f"/policies/replays/{run.pk}/")
    assert page.status_code == 200 and "Policy replay · shop" in page.content.decode()


def test_the_editor_shows_every_problem_with_a_bad_draft_or_window(
    cast, owner_client, viewer_client, worker
) -> None:
    cluster = make_cluster(cast.org_a, "shop")
    bad_window = owner_client.post(
        "/policies/provisioning/replays/", _form(replay_cluster=str(cluster.pk), replay_window="1h")
    )
    assert bad_window.status_code == 400 and "Choose one of 24h, 7d" in bad_window.content.decode()
    bad_policy = owner_client.post(
        "/policies/provisioning/replays/",
        _form(replay_cluster=str(cluster.pk), replay_window="24h", families_allow="m9zz"),
    )
    assert bad_policy.status_code == 400 and "not an instance family" in bad_policy.content.decode()
    assert (
        viewer_client.post(
            "/policies/provisioning/replays/", _form(replay_cluster=str(cluster.pk), replay_window="24h")
        ).status_code
        == 403
    )
    assert not ReplayRun.objects.exists() and not worker.sent


def test_the_distance_to_the_bound_is_stated_only_where_the_cents_shown_can_carry_it() -> None:
    """Two amounts that both show as $0.00 cannot honestly be "200 % apart" on the page."""
    assert ReplayView(ReplayState.DONE, lower_bound=0.001, replayed_effective=0.003).above_bound_pct is None
    shown = ReplayView(ReplayState.DONE, lower_bound=10.0, replayed_effective=11.0).above_bound_pct
    assert shown is not None and abs(shown - 10.0) < 1e-9
