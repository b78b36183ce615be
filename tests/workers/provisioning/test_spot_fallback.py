"""The policy's "fall back to on-demand after N seconds": a launch that prefers spot asks for spot
only until N seconds after it was recorded, then for on-demand too; with N = 0 it falls back at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clusters.cloud.interface import Offering
from clusters.models import Cluster, ClusterConnection, ClusterMode, ManagedNode, NodeState
from engines.kube import CapacityType
from policies.models import DecisionKind
from policies.selectors import built_in_settings
from tests.workers.provisioning.fakes import FakeCloud, FakeKube
from tests.workers.provisioning.test_pass_with_fakes import FakeWorld

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast, aws_catalog) -> FakeWorld:
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="fake",
        connection=ClusterConnection.EKS,
        eks_cluster_name="fake",
        region="us-east-1",
        mode=ClusterMode.NODELESS,
    )
    settings = {**built_in_settings(), "capacity_types": ["spot", "on_demand"]}
    return FakeWorld(cluster, FakeCloud(), FakeKube(), aws_catalog, settings)


def _no_spot_anywhere(world: FakeWorld) -> None:
    world.cloud.no_capacity |= {
        Offering(o.instance_type, o.zone, o.capacity_type)
        for o in world.catalog.offerings
        if o.capacity_type is CapacityType.SPOT
    }


def _launched_capacity(world: FakeWorld) -> set[CapacityType]:
    return {instance.capacity_type for instance in world.cloud.instances.values()}


def test_a_spot_launch_without_capacity_waits_then_falls_back_to_on_demand(world) -> None:
    world.settings.update(capacity_types=["spot", "on_demand"], spot_fallback_seconds=120)
    _no_spot_anywhere(world)
    world.kube.add_pod("web", cpu="500m", memory="512Mi")

    world.run()
    world.run()  # still within the two minutes: spot is asked again, on-demand is not
    (row,) = world.rows()
    assert row.state == NodeState.LAUNCHING and not world.cloud.instances
    assert len(world.cloud.calls) == 2

    ManagedNode.objects.filter(pk=row.pk).update(created_at=row.created_at - timedelta(seconds=121))
    world.run()

    row.refresh_from_db()
    assert row.state == NodeState.PENDING and row.capacity_type == CapacityType.ON_DEMAND.value
    assert _launched_capacity(world) == {CapacityType.ON_DEMAND}
    (fallback,) = world.decisions(DecisionKind.LAUNCH_FALLBACK)
    assert fallback.runner_ups and all(o["capacity_type"] == "spot" for o in fallback.runner_ups)


def test_zero_seconds_falls_back_within_the_same_launch(world) -> None:
    world.settings.update(capacity_types=["spot", "on_demand"], spot_fallback_seconds=0)
    _no_spot_anywhere(world)
    world.kube.add_pod("web", cpu="500m", memory="512Mi")
    world.run()
    assert _launched_capacity(world) == {CapacityType.ON_DEMAND}


def test_a_spot_launch_with_capacity_never_waits(world) -> None:
    world.settings.update(capacity_types=["spot", "on_demand"], spot_fallback_seconds=120)
    world.kube.add_pod("web", cpu="500m", memory="512Mi")
    world.run()
    assert _launched_capacity(world) == {CapacityType.SPOT}
