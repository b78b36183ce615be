"""A task's later passes bring the rows the pass before left up to date (``federation_rows_refresh``)
instead of reading every row again: what they hold must be what a fresh read gives, whatever the
API and the pages changed in between."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusters.models import Cluster, ClusterConnection
from policies.federation import services
from policies.federation.placements import (
    FederationRows,
    federation_rows_by_organization_id,
    federation_rows_refresh,
    placement_fields,
    workload_loop_fields,
)
from policies.models import FederationPolicy, Placement, PlacementState, Workload
from tenants.actors import Actor
from tests.fixtures.federation import deployment, submit

pytestmark = pytest.mark.django_db


def _cluster(organization, name: str) -> Cluster:
    return Cluster.objects.create(
        organization=organization,
        name=name,
        connection=ClusterConnection.KUBECONFIG,
        labels={"cloud": "onprem"},
    )


def _placed(cast, workload: Workload, cluster: Cluster, replicas: int = 2) -> Placement:
    return Placement.objects.create(
        organization=cast.org_a,
        workload=workload,
        cluster=cluster,
        replicas=replicas,
        state=PlacementState.RUNNING,
        applied_generation=1,
        applied_replicas=replicas,
        ready_replicas=replicas,
    )


def _view(rows: FederationRows) -> dict[str, object]:
    """What a pass works from: clusters, workloads in order with their fields and policy, and each
    workload's placements with their fields and cluster."""
    return {
        "clusters": {key: (c.name, c.health, dict(c.labels)) for key, c in rows.clusters.items()},
        "workloads": [
            (key, w.generation, w.desired_replicas, w.deleted_at, w.policy.name, w.policy.version)
            for key, w in rows.workloads.items()
        ],
        "original": rows.original,
        "placements": {
            key: sorted((str(p.pk), p.cluster.name, placement_fields(p)) for p in placements)
            for key, placements in rows.placements.items()
        },
        "written": rows.written,
    }


@pytest.fixture
def fleet(cast, policy: Callable[..., FederationPolicy]) -> dict[str, object]:
    dc1, dc2 = _cluster(cast.org_a, "dc-1"), _cluster(cast.org_a, "dc-2")
    cheap = policy("cheap")
    web = submit(cast, deployment("web", replicas=2), cheap)
    api = submit(cast, deployment("api", replicas=1), cheap)
    doomed = submit(cast, deployment("doomed", replicas=1), cheap)
    _placed(cast, web, dc1)
    _placed(cast, api, dc2, replicas=1)
    _placed(cast, doomed, dc2, replicas=1)
    return {"dc1": dc1, "dc2": dc2, "cheap": cheap, "web": web, "api": api, "doomed": doomed}


def test_refreshed_rows_are_what_a_fresh_read_gives_after_the_api_changed_things(cast, fleet) -> None:
    rows = federation_rows_by_organization_id(str(cast.org_a.pk))
    actor = Actor(user=cast.alice)
    # Meanwhile: a workload scaled, one deleted, one submitted, a cluster disconnected (its
    # placements go with it), a cluster's health and a policy changed.
    services.workload_scale(cast.org_a, workload=fleet["web"], actor=actor, replicas=5)
    services.workload_delete(cast.org_a, workload=fleet["doomed"], actor=actor)
    newcomer = submit(cast, deployment("newcomer", replicas=3), fleet["cheap"])
    Cluster.objects.filter(pk=fleet["dc2"].pk).delete()
    Cluster.objects.filter(pk=fleet["dc1"].pk).update(health="degraded")
    services.federation_policy_update(
        cast.org_a, policy=fleet["cheap"], actor=actor, data={"name": "cheap", "strategy": "most_capacity"}
    )
    _cluster(cast.org_a, "dc-3")

    refreshed = federation_rows_refresh(rows)

    assert _view(refreshed) == _view(federation_rows_by_organization_id(str(cast.org_a.pk)))
    assert str(newcomer.pk) in refreshed.workloads
    assert refreshed.workloads[str(fleet["web"].pk)].desired_replicas == 5


def test_a_workload_submitted_with_a_creation_time_before_the_last_read_is_found(cast, fleet) -> None:
    """A submission whose transaction committed after the read, stamped before it: found by id."""
    rows = federation_rows_by_organization_id(str(cast.org_a.pk))
    late = submit(cast, deployment("late", replicas=1), fleet["cheap"])
    Workload.objects.filter(pk=late.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    refreshed = federation_rows_refresh(rows)

    assert list(refreshed.workloads) == list(federation_rows_by_organization_id(str(cast.org_a.pk)).workloads)
    assert refreshed.placements[str(late.pk)] == []


def test_the_passes_own_changes_stay_and_unchanged_workloads_are_not_read_again(cast, fleet) -> None:
    rows = federation_rows_by_organization_id(str(cast.org_a.pk))
    web = rows.workloads[str(fleet["web"].pk)]
    (placement,) = rows.placements[str(web.pk)]
    placement.ready_replicas = 1  # what the pass observed, written by it later

    with CaptureQueriesContext(connection) as queries:
        refreshed = federation_rows_refresh(rows)

    assert refreshed.workloads[str(web.pk)] is web
    assert refreshed.placements[str(web.pk)] == [placement]
    assert placement.ready_replicas == 1
    assert refreshed.original[str(web.pk)] == workload_loop_fields(web)
    workload_reads = [
        q["sql"] for q in queries.captured_queries if '"policies_workload"."manifest"' in q["sql"]
    ]
    assert workload_reads == []


def test_the_passes_decisions_and_outcomes_are_not_carried_into_the_next(cast, fleet) -> None:
    rows = federation_rows_by_organization_id(str(cast.org_a.pk))
    rows.outcomes[str(fleet["web"].pk)] = ("placed", "cheapest: 2 on dc-1")  # type: ignore[assignment]
    rows.decisions.append(object())  # type: ignore[arg-type]

    refreshed = federation_rows_refresh(rows)

    assert refreshed.outcomes == {}
    assert refreshed.decisions == []
