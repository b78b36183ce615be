"""Consolidation moves that replace several nodes with one, through whole passes against the in-memory
cloud and cluster (the database is real): the replacement is recorded and launched first, each old
node names it, and the old nodes are drained only once it is Ready; a worker that dies in between
leaves rows the next pass finishes, and nothing is launched twice."""

from __future__ import annotations

import pytest

from clusters.cloud.interface import LAUNCH_TOKEN_TAG, LaunchRequest, LaunchResult
from clusters.models import Cluster, ClusterConnection, ClusterMode, ManagedNode, NodeState
from policies.models import Decision, DecisionKind
from policies.selectors import built_in_settings
from tests.workers.provisioning.fakes import FakeCloud, FakeKube
from tests.workers.provisioning.test_pass_with_fakes import FakeWorld
from workers.provisioning.disruption import consolidation

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast, aws_catalog, monkeypatch) -> FakeWorld:
    cluster = Cluster.objects.create(
        organization=cast.org_a,
        name="fake",
        connection=ClusterConnection.EKS,
        eks_cluster_name="fake",
        region="us-east-1",
        mode=ClusterMode.NODELESS,
    )
    settings = {**built_in_settings(), "capacity_types": ["on_demand"], "scale_down_delay_seconds": 0}
    # Three nodes: the default budget (a tenth of the nodes, at least one) would move one per pass.
    monkeypatch.setattr(consolidation, "DISRUPTION_BUDGET", 1.0)
    return FakeWorld(cluster, FakeCloud(), FakeKube(), aws_catalog, settings)


def _node_for(world: FakeWorld, pod: str) -> ManagedNode:
    """A Ready node launched for `pod` (7 vCPU: a node of its own), the pod bound to it."""
    world.kube.add_pod(pod, cpu="7", memory="8Gi", owner=f"rs-{pod}")
    world.run()
    row = world.rows()[-1]
    world.register(row)
    world.run()
    world.run()
    row.refresh_from_db()
    assert row.state == NodeState.READY and world.kube.pod(pod)["spec"]["nodeName"] == row.node_name
    return row


def _shrink(world: FakeWorld, pods: list[str], rows: list[ManagedNode]) -> None:
    """The pods' requests lowered in place, and the nodes' kubelets reserving most of the rest: each
    node is now far too big for its pod, and no pod fits on another's node."""
    for name in pods:
        container = world.kube.pod(name)["spec"]["containers"][0]
        container["resources"]["requests"] = {"cpu": "800m", "memory": "1500Mi"}
    for row in rows:
        world.kube.node_objects[row.node_name]["status"]["allocatable"].update(cpu="1", memory="2Gi")


def _replaced(world: FakeWorld) -> dict[str, list[ManagedNode]]:
    """Replacement row id -> the rows that name it."""
    found: dict[str, list[ManagedNode]] = {}
    for row in world.rows(replaced_by__isnull=False):
        found.setdefault(str(row.replaced_by_id), []).append(row)
    return found


def test_several_nodes_are_replaced_by_one_launched_first_and_drained_once_it_is_ready(world) -> None:
    old = [_node_for(world, pod) for pod in ("a", "b", "c")]
    _shrink(world, ["a", "b", "c"], old)
    report = world.run()
    groups = _replaced(world)
    (shared,) = [rows for rows in groups.values() if len(rows) > 1]
    (replacement,) = world.rows(pk=shared[0].replaced_by_id)
    moved = sorted(row.node_name for row in shared)
    assert report.launched == len(groups) and replacement.state == NodeState.PENDING
    assert sorted(p["name"] for p in replacement.planned_pods) == sorted(
        pod["metadata"]["name"] for pod in world.kube.pod_objects.values() if pod["spec"]["nodeName"] in moved
    )
    (decision,) = Decision.objects.filter(
        cluster=world.cluster, kind=DecisionKind.CONSOLIDATE, subject=", ".join(moved)
    )
    assert f"replacing these {len(shared)} nodes with {replacement.instance_type}" in decision.reason
    assert decision.inputs == {"nodes": moved} and decision.cost_per_hour is not None
    assert -decision.cost_per_hour >= 0.1 * sum(float(row.price_per_hour) for row in shared)
    # Nothing is touched while the replacement is on its way.
    world.run()
    for row in shared:
        row.refresh_from_db()
        assert row.state == NodeState.READY and ("cordon", row.node_name) not in world.kube.calls

    node = world.register(replacement)
    world.run()
    for row in shared:
        row.refresh_from_db()
        assert row.state in (NodeState.DRAINING, NodeState.TERMINATING)
        assert ("cordon", row.node_name) in world.kube.calls
    # The evicted pods' controllers make new ones: they go where the plan put their old ones.
    planned = sorted(p["name"] for p in replacement.planned_pods)
    assert [name for name in ("a", "b", "c") if ("default", name) not in world.kube.pod_objects] == planned
    for name in planned:
        world.kube.add_pod(f"{name}-2", cpu="800m", memory="1500Mi", owner=f"rs-{name}")
    for _ in range(3):
        world.run()
    assert [world.kube.pod(f"{name}-2")["spec"].get("nodeName") for name in planned] == [node] * len(planned)
    for row in shared:
        row.refresh_from_db()
        assert row.state in (NodeState.TERMINATING, NodeState.TERMINATED)
        assert row.instance_id not in world.cloud.live()
    assert _fresh_state(replacement) == NodeState.READY


def _fresh_state(row: ManagedNode) -> str:
    return ManagedNode.objects.get(pk=row.pk).state


def test_a_worker_that_dies_before_the_replacement_is_launched_leaves_it_to_the_next_pass(world) -> None:
    old = [_node_for(world, pod) for pod in ("a", "b", "c")]
    _shrink(world, ["a", "b", "c"], old)
    launch = world.cloud.launch
    tokens: list[str] = []

    def dies(request: LaunchRequest) -> LaunchResult:
        tokens.append(request.idempotency_token)
        raise SystemExit("the worker died")

    world.cloud.launch = dies
    with pytest.raises(SystemExit):
        world.run()
    # What it recorded first: the replacement's row, and the old rows naming it; nothing else.
    (recorded,) = world.rows(state=NodeState.LAUNCHING)
    assert recorded.idempotency_token == tokens[0]
    replaced = world.rows(replaced_by=recorded)
    assert replaced and all(row.state == NodeState.READY for row in replaced)
    world.cloud.launch = launch
    world.run()
    recorded.refresh_from_db()
    assert recorded.state == NodeState.PENDING
    launched = [i for i in world.cloud.instances.values() if i.tags[LAUNCH_TOKEN_TAG] == tokens[0]]
    assert len(launched) == 1 and len(world.cloud.live()) == len(world.rows(state__in=_LIVE))
    for row in replaced:
        row.refresh_from_db()
        assert row.state == NodeState.READY and row.replaced_by_id == recorded.pk


_LIVE = (NodeState.PENDING, NodeState.READY, NodeState.DRAINING)


def test_nodes_whose_replacement_never_comes_stay_and_may_be_consolidated_again(world) -> None:
    old = [_node_for(world, pod) for pod in ("a", "b", "c")]
    _shrink(world, ["a", "b", "c"], old)
    world.run()
    groups = _replaced(world)
    (shared,) = [rows for rows in groups.values() if len(rows) > 1]
    (replacement,) = world.rows(pk=shared[0].replaced_by_id)
    world.cloud.terminate([replacement.instance_id])  # lost before it ever became a node
    replacement.state, replacement.reason = NodeState.FAILED, "for the test"
    replacement.save(update_fields=["state", "reason"])
    world.run()
    for row in shared:
        row.refresh_from_db()
        assert row.state == NodeState.READY and row.replaced_by_id != replacement.pk


def test_a_fragmented_node_of_a_well_sized_type_is_emptied_onto_the_others(world) -> None:
    # Four nodes of the smallest type the policy allows, three pods on each using three quarters of
    # it: no cheaper type holds a node's pods and no other node holds all three (the scan's single
    # candidates), but each other node has room for one of them.
    old = [_node_for(world, pod) for pod in ("a", "b", "c", "d")]
    world.settings.update(min_vcpu=8, families_allow=[old[0].instance_type.split(".")[0]])
    share = (_allocatable_millis(world, old[0]) - 300) // 4
    for row, name in zip(old, ("a", "b", "c", "d"), strict=True):
        # The fake kubelet registers only the launch's labels; a real one adds its architecture.
        world.kube.node_objects[row.node_name]["metadata"]["labels"]["kubernetes.io/arch"] = "amd64"
        world.kube.pod(name)["spec"]["containers"][0]["resources"]["requests"] = {
            "cpu": f"{share}m",
            "memory": "1Gi",
        }
        for extra in (2, 3):
            world.kube.add_pod(
                f"{name}-{extra}", cpu=f"{share}m", memory="1Gi", owner=f"rs-{name}", node=row.node_name
            )
    rows = len(world.rows())
    world.run()
    (decision,) = Decision.objects.filter(cluster=world.cluster, kind=DecisionKind.CONSOLIDATE)
    assert "its 3 pod(s) fit on other nodes" in decision.reason
    assert len(world.rows()) == rows  # nothing launched
    (gone,) = [row for row in old if _fresh_state(row) in (NodeState.DRAINING, NodeState.TERMINATING)]
    assert decision.cost_per_hour is not None and -decision.cost_per_hour == gone.price_per_hour
    assert decision.subject == gone.node_name
    # Its pods are evicted (their controllers make new ones, for the room the others have).
    assert [
        key for key, pod in world.kube.pod_objects.items() if pod["spec"].get("nodeName") == gone.node_name
    ] == []


def _allocatable_millis(world: FakeWorld, row: ManagedNode) -> int:
    cpu = str(world.kube.node_objects[row.node_name]["status"]["allocatable"]["cpu"])
    return int(cpu[:-1]) if cpu.endswith("m") else int(cpu) * 1000
