"""Which workloads a pass that follows another at once leaves undecided (``inputs.steady``): only
those placed at their generation and starting or running everywhere they are placed, with no
cluster they are kept away from. Anything else — a new generation, a placement pending, failing,
unreachable or being removed, a failover memory, a deletion — is decided by every pass."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from clusters.models import Cluster, ClusterConnection
from policies.federation.inputs import steady
from policies.models import Placement, PlacementState, Workload, WorkloadStatus
from tests.fixtures.federation import deployment, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def placed(cast, policy) -> tuple[Workload, Placement]:
    cluster = Cluster.objects.create(
        organization=cast.org_a, name="dc-1", connection=ClusterConnection.KUBECONFIG
    )
    workload = submit(cast, deployment(replicas=2), policy("cheap"))
    workload.scheduled_generation, workload.status = workload.generation, WorkloadStatus.RUNNING
    placement = Placement(
        organization=cast.org_a,
        workload=workload,
        cluster=cluster,
        replicas=2,
        state=PlacementState.RUNNING,
        applied_generation=workload.generation,
        applied_replicas=2,
    )
    return workload, placement


def _changed(obj: Any, **fields: Any) -> Any:
    changed = copy.copy(obj)
    for name, value in fields.items():
        setattr(changed, name, value)
    return changed


UNSTEADY: dict[str, Callable[[Workload, Placement], tuple[Workload, list[Placement]]]] = {
    "a new generation": lambda w, p: (_changed(w, generation=w.generation + 1), [p]),
    "not placed yet": lambda w, p: (_changed(w, status=WorkloadStatus.PENDING), []),
    "cannot be placed": lambda w, p: (_changed(w, status=WorkloadStatus.UNSCHEDULABLE), [p]),
    "degraded": lambda w, p: (_changed(w, status=WorkloadStatus.DEGRADED), [p]),
    "a placement pending": lambda w, p: (w, [_changed(p, state=PlacementState.PENDING)]),
    "a placement failing": lambda w, p: (w, [_changed(p, state=PlacementState.FAILING)]),
    "a member unreachable": lambda w, p: (w, [_changed(p, state=PlacementState.UNREACHABLE)]),
    "a placement being removed": lambda w, p: (
        w,
        [p, _changed(p, replicas=0, state=PlacementState.REMOVING)],
    ),
    "kept away from a cluster": lambda w, p: (
        _changed(w, avoid_clusters={"dc-2": "2026-12-06T00:00:00Z"}),
        [p],
    ),
    "deleted": lambda w, p: (_changed(w, deleted_at=timezone.now()), [p]),
}


def test_placed_and_running_or_starting_everywhere_is_steady(placed) -> None:
    workload, placement = placed
    assert steady(workload, [placement])
    starting = _changed(workload, status=WorkloadStatus.PLACED)
    assert steady(starting, [_changed(placement, state=PlacementState.APPLIED)])


@pytest.mark.parametrize("case", sorted(UNSTEADY))
def test_anything_else_is_decided_by_every_pass(placed, case: str) -> None:
    workload, placements = UNSTEADY[case](*placed)
    assert not steady(workload, placements)
