"""Applying placements within each member's API budget, over the one client kept for it: a pass
that would wait too long for the member's budget leaves the rest for the next pass (neither applied
nor failed), and a namespace is applied once per member, not once per workload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import redis

from policies.models import Placement, PlacementState
from tests.fixtures.federation import deployment, pool, settle, submit
from workers.federation import apply, run_pass
from workers.provisioning import budget

pytestmark = pytest.mark.django_db


@pytest.fixture
def onprem(member):
    return member("onprem", {"cloud": "onprem"}, pools=(pool(2, "m5.4xlarge"),))


def _states(workloads) -> list[str]:
    return sorted(Placement.objects.filter(workload__in=workloads).values_list("state", flat=True))


def test_a_member_over_its_budget_gets_the_rest_on_the_next_pass(cast, settings, onprem, policy) -> None:
    cheap = policy("cheap", strategy="cheapest")
    workloads = [submit(cast, deployment(name=f"web-{number}", replicas=1), cheap) for number in range(4)]
    cluster_id = str(onprem.cluster.pk)
    # The observe step spends from the same bucket; give it room, then spend all but one call.
    settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST = 0.01, 2
    key = budget.budget_key(cluster_id)
    redis.Redis.from_url(settings.REDIS_URL).delete(key)
    run_pass(str(cast.org_a.pk))
    states = _states(workloads)
    # The namespace and one Deployment fit the burst of 2; the other three wait (still pending, not failing).
    assert states.count(PlacementState.PENDING) == 3 and PlacementState.FAILING not in states
    assert onprem.deployment_replicas("shop", "web-0") == 1
    redis.Redis.from_url(settings.REDIS_URL).delete(key)  # time passes: the bucket is full again
    settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST = 200, 300
    run_pass(str(cast.org_a.pk))
    assert PlacementState.PENDING not in _states(workloads)
    assert all(onprem.deployment_replicas("shop", f"web-{number}") == 1 for number in range(4))


def test_a_namespace_is_applied_once_per_member_and_made_again_after_a_refusal(
    cast, onprem, policy, monkeypatch
) -> None:
    cheap = policy("cheap", strategy="cheapest")
    calls: list[str] = []
    original = apply.MemberClient.apply

    def counting(self: apply.MemberClient, obj: Mapping[str, Any]) -> None:
        calls.append(str(obj["kind"]))
        original(self, obj)

    monkeypatch.setattr(apply.MemberClient, "apply", counting)
    for number in range(3):
        submit(cast, deployment(name=f"api-{number}", replicas=1), cheap)
        run_pass(str(cast.org_a.pk))
    assert calls.count("Namespace") == 1 and calls.count("Deployment") == 3
    onprem.core.delete_namespace("shop")  # someone removes it: the next apply there is refused
    submit(cast, deployment(name="api-3", replicas=1), cheap)
    settle(cast, lambda: onprem.deployment_replicas("shop", "api-3") == 1)
    assert calls.count("Namespace") >= 2  # forgotten after the refusal, so made again
