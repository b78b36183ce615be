"""Applying placements within each member's API budget, over the one client kept for it: a pass
that would wait too long for the member's budget leaves the rest for the next pass (neither applied
nor failed), the member never sees more calls than its budget allows (client-go's QPS/burst), a
slow member holds up no other, and a namespace is applied once per member, not once per workload."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest
import redis

from policies.models import Placement, PlacementState
from simulator.resources import DEPLOYMENTS
from tests.fixtures.federation import deployment, pool, settle, submit
from tests.fixtures.simulation import wait_for
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


def _creations(member: Any) -> list[float]:
    """When each Deployment was created in the member, as its API server records it (a listener on
    its store, on this process's monotonic clock)."""
    times: list[float] = []

    def listen(resource: Any, event: Any) -> None:
        if resource.key == DEPLOYMENTS.key and event.type == "ADDED":
            times.append(time.monotonic())

    member.sim.store.add_listener(listen)
    return times


def test_a_members_budget_is_never_exceeded(cast, settings, onprem, policy) -> None:
    rate, burst = 2, 3
    settings.NODELESS_CLUSTER_API_RATE, settings.NODELESS_CLUSTER_API_BURST = rate, burst
    redis.Redis.from_url(settings.REDIS_URL).delete(budget.budget_key(str(onprem.cluster.pk)))
    created = _creations(onprem)
    cheap = policy("cheap", strategy="cheapest")
    for number in range(12):
        submit(cast, deployment(name=f"job-{number}", replicas=1), cheap)
    settle(cast, lambda: len(created) == 12, timeout=120)
    # Over any stretch of time, at most the burst plus what the rate refilled meanwhile (the
    # observe step's calls and the namespace spend from the same bucket, so fewer writes fit).
    for first in range(len(created)):
        for last in range(first, len(created)):
            assert last - first + 1 <= burst + rate * (created[last] - created[first]) + 1


def test_a_slow_member_does_not_hold_up_the_others(cast, member, policy) -> None:
    east = member("east", {"cloud": "aws", "region": "us-east-1"}, pools=(pool(2),))
    west = member("west", {"cloud": "aws", "region": "us-west-2"}, pools=(pool(2),))
    everywhere = policy("everywhere", strategy="spread", spread={"spread_by": "cluster"})
    workloads = [submit(cast, deployment(name=f"web-{n}", replicas=2), everywhere) for n in range(3)]

    def slow(resource: Any, obj: Any) -> None:
        # West answers its first Deployment only once east has all three: were the members applied
        # one after the other with west first, east would wait for west's call to time out, and
        # west's placements would be left unreachable by this pass.
        if resource.key == DEPLOYMENTS.key:
            wait_for(lambda: east.sim.store.count(DEPLOYMENTS) == 3, timeout=60)

    west.sim.api.mutators.append(slow)
    run_pass(str(cast.org_a.pk))
    states = _states(workloads)
    assert states.count(PlacementState.APPLIED) + states.count(PlacementState.RUNNING) == 6, states
    assert all(m.deployment_replicas("shop", f"web-{n}") == 1 for m in (east, west) for n in range(3))
