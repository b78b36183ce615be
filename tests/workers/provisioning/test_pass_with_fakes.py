"""Whole passes against the in-memory cloud and cluster (the database is real): the order in which
intents are recorded and acted on, and what the next pass finishes after a worker died in between.
Fast beside the end-to-end tests against the simulated cloud and cluster, which they do not replace."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from clusters.cloud.interface import LaunchRequest, LaunchResult, Offering
from clusters.kube.api import ClusterUnreachable
from clusters.models import Cluster, ClusterConnection, ClusterMode, ManagedNode, NodeState
from clusters.services.managed_nodes import idempotency_token
from engines.kube import CapacityType
from engines.planner import Catalog
from policies.models import Decision, DecisionKind
from policies.provisioning_settings import planner_policy
from policies.selectors import built_in_settings
from tests.workers.provisioning.fakes import FakeCloud, FakeKube
from tests.workers.provisioning.provisioning_builders import inputs, pod_json
from workers.provisioning.cluster_pass import ReconcileReport, run_pass
from workers.provisioning.context import ReconcileContext
from workers.provisioning.launch import plan_launches, pods_to_plan
from workers.provisioning.ledger import Ledger
from workers.provisioning.node_class import OpenNodeClass
from workers.provisioning.pods import INITIALIZING_TAINT
from workers.provisioning.records import Lifecycle

pytestmark = pytest.mark.django_db


@dataclass
class FakeWorld:
    cluster: Cluster
    cloud: FakeCloud
    kube: FakeKube
    catalog: Catalog
    settings: dict[str, Any]

    def context(self) -> ReconcileContext:
        return ReconcileContext(
            cluster=self.cluster,
            settings=self.settings,
            policy=planner_policy(self.settings),
            policy_version="test",
            catalog=self.catalog,
            provider=self.cloud,
            kube=self.kube,
            now=timezone.now(),
            node_class=OpenNodeClass(),
        )

    def run(self) -> ReconcileReport:
        return run_pass(self.context())

    def rows(self, **filters: Any) -> list[ManagedNode]:
        return list(ManagedNode.objects.filter(cluster=self.cluster, **filters).order_by("created_at"))

    def register(self, row: ManagedNode) -> str:
        instance = self.cloud.instances[row.instance_id]
        return self.kube.register(instance, self.catalog, self.cloud.requests[row.instance_id])

    def decisions(self, kind: DecisionKind) -> list[Decision]:
        return list(Decision.objects.filter(cluster=self.cluster, kind=kind))


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
    settings = {**built_in_settings(), "capacity_types": ["on_demand"], "scale_down_delay_seconds": 0}
    return FakeWorld(cluster, FakeCloud(), FakeKube(), aws_catalog, settings)


def _fresh(row: ManagedNode) -> ManagedNode:
    return ManagedNode.objects.get(pk=row.pk)


def _running_node(world: FakeWorld, *pods: str, owner: str = "") -> ManagedNode:
    """A Ready node running `pods`, launched and bound by passes."""
    for name in pods:
        world.kube.add_pod(name, cpu="500m", memory="512Mi", owner=owner)
    world.run()
    (row,) = world.rows()
    world.register(row)
    world.run()  # registered: the node's startup taint is made its own, and its pods bound
    row.refresh_from_db()
    assert row.state == NodeState.READY
    return row


def test_a_pod_gets_a_node_is_bound_to_it_and_the_node_goes_when_empty(world) -> None:
    world.kube.add_pod("web", cpu="1500m", memory="3Gi")
    assert world.run().launched == 1
    (row,) = world.rows()
    assert row.state == NodeState.PENDING and [p["name"] for p in row.planned_pods] == ["web"]
    assert world.cloud.live() == [row.instance_id]

    node = world.register(row)
    shared = [
        t["value"] for t in world.kube.node_objects[node]["spec"]["taints"] if t["key"] == INITIALIZING_TAINT
    ]
    report = world.run()
    # The node registered with its launch template's shared startup taint: the pass makes the taint
    # the node's own first, so the toleration the pod gains opens this node and no other, and binds
    # the pod in the same pass.
    assert shared and shared != [str(row.pk)]
    tolerated = [
        t for t in world.kube.pod("web")["spec"].get("tolerations") or () if t["key"] == INITIALIZING_TAINT
    ]
    assert [t["value"] for t in tolerated] == [str(row.pk)]
    row.refresh_from_db()
    assert report.bound == 1 and row.state == NodeState.READY and row.planned_pods == []
    assert world.kube.pod("web")["spec"]["nodeName"] == node
    assert not any(t["key"] == INITIALIZING_TAINT for t in world.kube.node_objects[node]["spec"]["taints"])
    assert len(world.decisions(DecisionKind.BIND)) == 1

    world.kube.finish("web")
    assert world.run().terminated == 1
    row.refresh_from_db()
    assert row.state == NodeState.TERMINATING and world.decisions(DecisionKind.TERMINATE)
    assert world.cloud.live() == [] and node not in world.kube.node_objects
    world.run()
    row.refresh_from_db()
    assert row.state == NodeState.TERMINATED


def test_a_launch_is_recorded_before_the_cloud_is_asked(world) -> None:
    seen: list[str] = []
    launch = world.cloud.launch

    def recorded_first(request: LaunchRequest) -> LaunchResult:
        row = ManagedNode.objects.get(idempotency_token=request.idempotency_token)
        seen.append(row.state)
        assert Decision.objects.filter(node=row, kind=DecisionKind.LAUNCH).exists()
        return launch(request)

    world.cloud.launch = recorded_first
    world.kube.add_pod("web")
    world.run()
    assert seen == [NodeState.LAUNCHING]


def test_a_termination_a_dead_worker_recorded_is_finished_by_the_next_pass(world) -> None:
    row = _running_node(world, "web")
    world.kube.pod_objects.clear()
    # What a worker that died right after recording the termination leaves behind.
    row.state, row.reason = NodeState.TERMINATING, "empty"
    row.save(update_fields=["state", "reason"])
    world.run()
    assert world.cloud.live() == [] and world.kube.node_objects == {}
    world.run()  # the instance is listed as gone
    row.refresh_from_db()
    assert row.state == NodeState.TERMINATED and row.reason == "empty"


def test_a_spot_interruption_is_recorded_then_cordoned_and_its_pods_planned_again(world) -> None:
    row = _running_node(world, "web", owner="rs-1")
    world.kube.blocked.add(("default", "web"))  # so that the drain is still going after the pass
    world.cloud.interrupt(row.instance_id)
    report = world.run()
    row.refresh_from_db()
    assert row.state == NodeState.DRAINING and row.interrupted_at is not None
    assert world.decisions(DecisionKind.INTERRUPTION)
    assert ("cordon", row.node_name) in world.kube.calls
    assert report.launched == 1
    replacement = world.rows()[-1]
    assert [p["name"] for p in replacement.planned_pods] == ["web"]


def test_the_pod_that_replaces_an_interrupted_one_takes_its_slot_on_the_replacement(world) -> None:
    """The interruption plans the node's pods onto a replacement; once the drain evicts one, its
    ReplicaSet makes a new pod (another uid) that must take the evicted pod's slot there, not get a
    third node of its own."""
    world.settings["capacity_types"] = ["spot"]
    row = _running_node(world, "web-1", owner="rs-1")
    world.cloud.interrupt(row.instance_id)
    assert world.run().launched == 1
    assert _fresh(row).interrupted_at is not None
    replacement = world.rows()[-1]
    assert [p["name"] for p in replacement.planned_pods] == ["web-1"]

    # What the ReplicaSet does once the drain evicted its pod: the old pod goes, a new one waits.
    world.kube.pod_objects.pop(("default", "web-1"), None)
    world.kube.add_pod("web-2", cpu="500m", memory="512Mi", owner="rs-1")
    world.run()
    world.run()
    assert len(world.cloud.instances) == 2  # the interrupted node and its one replacement

    node = world.register(replacement)
    world.run()
    world.run()
    assert world.kube.pod("web-2")["spec"].get("nodeName") == node
    assert len(world.cloud.instances) == 2
    assert _fresh(replacement).planned_pods == []


def test_a_pass_that_fails_after_reading_a_notice_leaves_it_for_the_next_pass(world) -> None:
    """Notices are acknowledged (deleted from the queue) only once the interruption is recorded: a
    pass that read one and then could not reach the cluster loses nothing."""
    row = _running_node(world, "web", owner="rs-1")
    world.cloud.interrupt(row.instance_id)
    world.kube.unreachable = True
    with pytest.raises(ClusterUnreachable):
        world.run()
    assert _fresh(row).interrupted_at is None and world.cloud.notices
    world.kube.unreachable = False
    world.run()
    assert _fresh(row).interrupted_at is not None
    assert world.cloud.notices == []


def test_a_drain_waits_for_a_disruption_budget_then_terminates(world) -> None:
    row = _running_node(world, "db")
    world.kube.blocked.add(("default", "db"))
    row.state, row.reason = NodeState.DRAINING, "for the test"
    row.save(update_fields=["state", "reason"])
    world.run()
    assert _fresh(row).state == NodeState.DRAINING
    assert world.kube.node_objects[row.node_name]["spec"]["unschedulable"]
    world.kube.blocked.clear()
    world.run()
    assert (_fresh(row).state, _fresh(row).reason) == (NodeState.TERMINATING, "for the test")
    assert world.cloud.live() == []


def test_garbage_is_collected_and_vanished_instances_forgotten(world) -> None:
    row = _running_node(world, "web")
    stray = world.cloud.launch(
        LaunchRequest(row_offering(row), "stray", {"nodeless.io/cluster": str(world.cluster.pk)})
    )
    world.cloud.reclaim(row.instance_id)
    world.run()
    row.refresh_from_db()
    assert row.state == NodeState.TERMINATED and row.reason == "instance is gone"
    assert row.node_name not in world.kube.node_objects
    assert stray.instance.instance_id not in world.cloud.live()
    reasons = [d.reason for d in world.decisions(DecisionKind.GARBAGE)]
    assert any(stray.instance.instance_id in reason for reason in reasons)
    assert any(row.instance_id in reason for reason in reasons)


def row_offering(row: ManagedNode) -> tuple[Offering, ...]:
    return (Offering(row.instance_type, row.zone, CapacityType(row.capacity_type)),)


def test_a_launch_another_worker_recorded_first_is_left_out_and_the_others_go_ahead(world) -> None:
    pods = [pod_json(name, annotations={"nodeless.io/isolate": "true"}) for name in ("a", "b")]
    state = inputs(pods=pods, catalog=world.catalog, policy=planner_policy(world.settings))
    first, second = plan_launches(state, pods_to_plan(state, frozenset())).launches
    # Another worker, racing on the same plan, recorded the first launch a moment earlier.
    token = idempotency_token(world.cluster.pk, first.launch.node_id, 0)
    ManagedNode.objects.create(
        organization=world.cluster.organization, cluster=world.cluster, idempotency_token=token
    )
    (written,) = Ledger(world.context(), []).launches([first, second])
    assert written.state == Lifecycle.LAUNCHING
    assert [p.name for p in written.planned_pods] == [second.planned[0].name]
    assert len(world.rows()) == 2 and len(world.decisions(DecisionKind.LAUNCH)) == 1


def test_a_pass_goes_on_without_a_cloud_listing_that_does_not_answer_in_time(world, settings) -> None:
    """A slow cloud (here: an instance listing that hangs) costs a pass at most the read's wait: the
    pod still gets its node, and the listing is left to finish on its own."""
    settings.NODELESS_CLOUD_READ_WAIT_SECONDS = 1
    released, answered = threading.Event(), threading.Event()
    answer = world.cloud.list_instances

    def hanging(tags: Any) -> Any:
        released.wait(60)
        answered.set()
        return answer(tags)

    world.cloud.list_instances = hanging
    world.kube.add_pod("web", cpu="500m", memory="512Mi")
    try:
        report = world.run()
        assert not answered.is_set()  # the pass did not wait for the listing
    finally:
        released.set()
    assert report.outcome == "done" and report.launched == 1
    (row,) = world.rows()
    assert world.cloud.live() == [row.instance_id]


def test_a_pass_goes_on_without_a_cloud_listing_that_fails(world) -> None:
    """A listing the cloud answers with an error (here: what an endpoint's error page becomes) is a
    read this pass did not get: the pod still gets its node, and the next pass lists again."""
    from clusters.cloud.errors import CloudUnavailableError

    answer, calls = world.cloud.list_instances, []

    def failing(tags: Any) -> Any:
        calls.append(tags)
        if len(calls) == 1:
            raise CloudUnavailableError("listing instances: the AWS endpoint answered with something else")
        return answer(tags)

    world.cloud.list_instances = failing
    world.kube.add_pod("web", cpu="500m", memory="512Mi")
    report = world.run()
    assert report.outcome == "done" and report.launched == 1
    world.run()
    assert len(calls) == 2  # the failed listing was not counted as done for its interval
