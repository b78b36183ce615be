"""At rest a pass reuses the engine's answers of the last one (``scheduling.DecisionMemo``): same
fleet, same inputs, same answer. A change of the fleet or of a workload decides again, and so does
an answer that time alone can change (a burst tier's return held back by ``return_after_seconds``).

``decide_all`` on one organization's rows, with the members' inventories given (no member runs):
each pass is decided and saved as the loop does, and the engine's calls are counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from clusters.models import Cluster, ClusterConnection
from engines.federation import schedule
from policies.federation.placements import federation_rows_by_organization_id, placements_save
from policies.federation.pricing import NodeInfo
from policies.federation.snapshots import Inventory, Usage
from policies.federation.status import workload_statuses_save
from policies.models import Decision, FederationPolicy, Workload
from tests.fixtures.federation import deployment, placements, submit
from workers.federation import runner, scheduling

pytestmark = pytest.mark.django_db

ONPREM = {"cloud": "onprem", "region": "dc-east"}
CLOUD = {"cloud": "onprem", "region": "dc-west"}  # a second tier, priced as on-prem too


def _cluster(organization, name: str, labels: dict[str, str]) -> Cluster:
    return Cluster.objects.create(
        organization=organization, name=name, connection=ClusterConnection.KUBECONFIG, labels=labels
    )


def _inventory(cpu_millis: int, others_cpu: int = 0) -> Inventory:
    return Inventory((NodeInfo("rack", cpu_millis, 65536, 0, 110),), Usage(others_cpu, 0, 0, 0))


@pytest.fixture
def engine_calls(monkeypatch) -> list[str]:
    """The names of the workloads the engine is run for, from now on."""
    calls: list[str] = []

    def counted(spec: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(Workload.objects.get(pk=spec.id).name)
        return schedule(spec, *args, **kwargs)

    monkeypatch.setattr(scheduling, "schedule", counted)
    return calls


def _pass(
    cast, memo: scheduling.DecisionMemo, inventories: dict[str, Inventory], now: datetime
) -> dict[str, dict[str, int]]:
    """One pass's decisions, saved; each workload's placements afterwards."""
    rows = federation_rows_by_organization_id(str(cast.org_a.pk))
    scheduling.decide_all(rows, inventories, now, memo=memo)
    placements_save(rows, now)
    workload_statuses_save(rows)
    return {w.name: placements(w) for w in Workload.objects.filter(organization=cast.org_a)}


def test_at_rest_the_engine_is_not_run_again_until_the_fleet_or_a_workload_changes(
    cast, policy: Callable[..., FederationPolicy], engine_calls
) -> None:
    rack = _cluster(cast.org_a, "dc-1", ONPREM)
    cheap = policy("cheap", strategy="cheapest")
    for name in ("web", "api", "jobs"):
        submit(cast, deployment(name, replicas=2), cheap)
    memo = scheduling.DecisionMemo()
    inventories = {str(rack.pk): _inventory(16000)}
    now = timezone.now()

    placed = _pass(cast, memo, inventories, now)
    assert sorted(engine_calls) == ["api", "jobs", "web"]
    # The next pass's fleet counts what the first placed (free room net of our placements).
    assert _pass(cast, memo, inventories, now + timedelta(seconds=5)) == placed
    decisions = Decision.objects.filter(organization=cast.org_a).count()

    engine_calls.clear()
    assert _pass(cast, memo, inventories, now + timedelta(seconds=10)) == placed
    assert engine_calls == []  # every answer reused
    assert Decision.objects.filter(organization=cast.org_a).count() == decisions

    # Someone else's pods now hold part of the member: another fleet, every workload decided again.
    assert (
        _pass(cast, memo, {str(rack.pk): _inventory(16000, others_cpu=2000)}, now + timedelta(seconds=20))
        == placed
    )
    assert sorted(engine_calls) == ["api", "jobs", "web"]

    # A workload scaled: it is decided again, with the same fleet.
    engine_calls.clear()
    Workload.objects.filter(organization=cast.org_a, name="api").update(desired_replicas=3, generation=2)
    moved = _pass(cast, memo, {str(rack.pk): _inventory(16000, others_cpu=2000)}, now + timedelta(seconds=30))
    assert "api" in engine_calls and "web" not in engine_calls
    assert moved["api"] == {"dc-1": 3}


def test_a_return_held_back_by_time_is_decided_again_when_it_comes_due(
    cast, policy: Callable[..., FederationPolicy], engine_calls
) -> None:
    """The fleet does not change after tier 1 frees up, only the clock: the answer "hold back" is
    never reused, so the return happens on the first pass past ``return_after_seconds``."""
    first = _cluster(cast.org_a, "dc-1", ONPREM)
    second = _cluster(cast.org_a, "dc-2", CLOUD)
    tiers = {"tiers": ["region=dc-east", "region=dc-west"], "return_headroom": 0, "return_after_seconds": 600}
    burst = policy("burst", strategy="fill_then_burst", burst=tiers)
    submit(cast, deployment("web", replicas=3, cpu="1", memory="512Mi"), burst)
    memo = scheduling.DecisionMemo()
    t0 = timezone.now()

    crowded = {str(first.pk): _inventory(4000, others_cpu=2000), str(second.pk): _inventory(16000)}
    assert _pass(cast, memo, crowded, t0)["web"] == {"dc-1": 2, "dc-2": 1}

    freed = {str(first.pk): _inventory(4000), str(second.pk): _inventory(16000)}
    assert _pass(cast, memo, freed, t0 + timedelta(seconds=10))["web"] == {"dc-1": 2, "dc-2": 1}  # held back
    engine_calls.clear()
    assert _pass(cast, memo, freed, t0 + timedelta(seconds=20))["web"] == {"dc-1": 2, "dc-2": 1}
    assert engine_calls == ["web"]  # the same fleet, but the answer depends on the time

    assert _pass(cast, memo, freed, t0 + timedelta(seconds=601))["web"] == {"dc-1": 3}


def test_a_process_keeps_the_answers_of_its_most_recently_served_organizations_only(monkeypatch) -> None:
    monkeypatch.setattr(runner, "DECISION_MEMOS", 2)
    organizations = [f"memo-bound-{number}" for number in range(3)]
    kept = {}
    for organization_id in organizations:
        memory = runner._memory(organization_id)
        memory.decisions.answers["w"] = "an answer"  # type: ignore[assignment]
        kept[organization_id] = memory
    assert [bool(kept[o].decisions.answers) for o in organizations] == [False, True, True]
    runner._memory(organizations[0])  # served again: the least recent of the others forgets
    assert [bool(kept[o].decisions.answers) for o in organizations] == [False, False, True]
