"""Spot interruptions, draining with PodDisruptionBudgets and do-not-evict, consolidation, and
garbage collection of instances and nodes nobody owns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from kubernetes import client as k8s

from clusters.cloud.interface import LaunchRequest, Offering, Placement
from clusters.models import NodeClass, NodeState
from engines.kube.capacity import CapacityType
from policies.models import Decision, DecisionKind
from tests.fixtures.provisioning import pod_manifest
from workers.provisioning.disruption import consolidation

pytestmark = pytest.mark.django_db


def _deployment(name: str, replicas: int, **pod: Any) -> dict[str, Any]:
    template = pod_manifest(name, **pod)
    template["metadata"].pop("name")
    template.pop("apiVersion")
    template.pop("kind")
    template["metadata"]["labels"] = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
    }


def _pods(world, app: str) -> list:
    return world.core.list_namespaced_pod("default", label_selector=f"app={app}").items


def test_a_spot_interruption_drains_the_node_and_launches_the_replacement_at_once(
    nodeless, kube_client
) -> None:
    nodeless.policy(capacity_types=["spot"])
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    apps.create_namespaced_deployment("default", _deployment("api", 1, cpu="1", memory="1Gi"))
    nodeless.until(lambda: any(p.status.phase == "Running" for p in _pods(nodeless, "api")))
    (row,) = nodeless.rows(state=NodeState.READY)
    # The shared cloud's clock runs 120x: the notice's two minutes are one real second, which a busy
    # machine can spend before the pass that reads the notice has run (the test would then see the
    # instance reclaimed, not interrupted). The reclaim is held until that pass is checked.
    with nodeless.aws.cloud.timers.held():
        nodeless.aws.cloud.interrupt(row.instance_id)
        nodeless.until(lambda: nodeless.rows(interrupted_at__isnull=False))
        # The pass that read the notice cordoned the node and launched the replacement at once.
        assert len(nodeless.rows()) == 2
    assert Decision.objects.filter(node=row, kind=DecisionKind.INTERRUPTION).exists()
    replacement = nodeless.rows()[-1]

    def moved() -> bool:
        replacement.refresh_from_db()
        return any(
            p.status.phase == "Running" and p.spec.node_name == replacement.node_name
            for p in _pods(nodeless, "api")
            if replacement.node_name
        )

    nodeless.until(moved)
    nodeless.until(
        lambda: row.refresh_from_db() or row.state in (NodeState.TERMINATING, NodeState.TERMINATED)
    )


def test_draining_respects_pod_disruption_budgets(nodeless, kube_client) -> None:
    policy_api: Any = k8s.PolicyV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    apps.create_namespaced_deployment("default", _deployment("db", 1, cpu="500m", memory="512Mi"))
    policy_api.create_namespaced_pod_disruption_budget(
        "default",
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "db"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}},
        },
    )
    nodeless.until(lambda: any(p.status.phase == "Running" for p in _pods(nodeless, "db")))
    (row,) = nodeless.rows(state=NodeState.READY)
    row.state, row.reason = NodeState.DRAINING, "test drain"
    row.save(update_fields=["state", "reason"])
    for _ in range(3):
        nodeless.reconcile()
    row.refresh_from_db()
    assert row.state == NodeState.DRAINING  # the budget allows no disruption: the pod stays
    assert [p.status.phase for p in _pods(nodeless, "db")] == ["Running"]
    assert nodeless.core.read_node(row.node_name).spec.unschedulable


@pytest.mark.parametrize("do_not_evict", [False, True])
def test_an_underused_node_is_consolidated_unless_a_pod_must_not_be_evicted(
    nodeless, kube_client, do_not_evict
) -> None:
    nodeless.policy(capacity_types=["on_demand"], scale_down_delay_seconds=0)
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    annotations = {"nodeless.io/do-not-evict": "true"} if do_not_evict else {}
    apps.create_namespaced_deployment("default", _deployment("filler1", 1, cpu="3", memory="2Gi"))
    nodeless.until(lambda: any(p.status.phase == "Running" for p in _pods(nodeless, "filler1")))
    apps.create_namespaced_deployment(
        "default", _deployment("small", 1, cpu="100m", memory="128Mi", annotations=annotations)
    )
    nodeless.until(lambda: any(p.status.phase == "Running" for p in _pods(nodeless, "small")))
    first_node = _pods(nodeless, "small")[0].spec.node_name
    apps.create_namespaced_deployment("default", _deployment("filler2", 1, cpu="3", memory="2Gi"))
    nodeless.until(
        lambda: any(
            p.status.phase == "Running" and p.spec.node_name != first_node for p in _pods(nodeless, "filler2")
        )
    )
    apps.delete_namespaced_deployment("filler1", "default")
    nodeless.until(lambda: not _pods(nodeless, "filler1"))
    for _ in range(4):
        nodeless.reconcile()
    consolidated = Decision.objects.filter(
        cluster=nodeless.cluster, kind=DecisionKind.CONSOLIDATE, subject=first_node
    )
    if do_not_evict:
        assert not consolidated.exists()
        assert _pods(nodeless, "small")[0].spec.node_name == first_node
    else:
        assert consolidated.exists()
        nodeless.until(
            lambda: any(
                p.status.phase == "Running" and p.spec.node_name not in (None, first_node)
                for p in _pods(nodeless, "small")
            )
        )


def test_garbage_collection_terminates_unowned_instances_and_forgets_vanished_ones(
    nodeless, cloud_provider
) -> None:
    nodeless.create_pod("keep", cpu="500m", memory="512Mi", run_seconds=3600)
    nodeless.until(lambda: nodeless.pod("keep").status.phase == "Running")
    (row,) = nodeless.rows(state=NodeState.READY)
    provider = cloud_provider(nodeless.sim.name)
    node_class = NodeClass.objects.get(cluster=nodeless.cluster)
    template = next(iter(node_class.launch_templates.values()))
    stray = provider.launch(
        LaunchRequest(
            (Offering("t3.micro", row.zone, CapacityType.ON_DEMAND),),
            "stray-launch-1",
            {
                "nodeless.io/cluster": str(nodeless.cluster.pk),
                f"kubernetes.io/cluster/{nodeless.sim.name}": "owned",
            },
            placements=(Placement(template["id"], template["version"], node_class.subnets[row.zone]),),
        )
    ).instance
    ec2 = nodeless.aws.cloud.admin.client("ec2", nodeless.aws.cloud.customer_account_id)
    ec2.terminate_instances(InstanceIds=[row.instance_id])  # reclaimed outside Nodeless

    def state(instance_id: str) -> str:
        return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"][
            "Name"
        ]

    nodeless.until(lambda: state(stray.instance_id) in ("shutting-down", "terminated"))
    nodeless.until(lambda: row.refresh_from_db() or row.state == NodeState.TERMINATED)
    reasons = list(
        Decision.objects.filter(cluster=nodeless.cluster, kind=DecisionKind.GARBAGE).values_list(
            "reason", flat=True
        )
    )
    assert any(stray.instance_id in reason for reason in reasons)
    assert any(row.instance_id in reason for reason in reasons)


def test_an_underused_node_whose_pods_fit_nowhere_else_is_replaced_by_a_cheaper_one(
    nodeless, kube_client
) -> None:
    nodeless.policy(capacity_types=["on_demand"], scale_down_delay_seconds=0)
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    apps.create_namespaced_deployment("default", _deployment("big", 1, cpu="3", memory="2Gi"))
    apps.create_namespaced_deployment("default", _deployment("small", 1, cpu="100m", memory="128Mi"))
    nodeless.until(
        lambda: all(
            any(p.status.phase == "Running" for p in _pods(nodeless, app)) for app in ("big", "small")
        )
    )
    first_node = _pods(nodeless, "small")[0].spec.node_name
    assert _pods(nodeless, "big")[0].spec.node_name == first_node, "the planner packs both on one node"
    (first,) = [row for row in nodeless.rows() if row.node_name == first_node]

    apps.delete_namespaced_deployment("big", "default")
    nodeless.until(lambda: not _pods(nodeless, "big"))
    nodeless.until(
        lambda: any(
            p.status.phase == "Running" and p.spec.node_name not in (None, first_node)
            for p in _pods(nodeless, "small")
        )
    )

    decision = Decision.objects.get(
        cluster=nodeless.cluster, kind=DecisionKind.CONSOLIDATE, subject=first_node
    )
    assert "replacing it with" in decision.reason
    assert decision.cost_per_hour is not None and decision.cost_per_hour < 0
    (replacement,) = nodeless.rows(node_name=_pods(nodeless, "small")[0].spec.node_name)
    assert replacement.created_at > first.created_at
    assert replacement.price_per_hour <= Decimal("0.8") * first.price_per_hour
    nodeless.until(
        lambda: nodeless.rows(pk=first.pk)[0].state in (NodeState.TERMINATING, NodeState.TERMINATED)
    )


def test_underused_nodes_are_replaced_by_one_node_drained_once_it_is_ready(
    nodeless, kube_client, monkeypatch
) -> None:
    # Three nodes: the default budget (a tenth of the nodes, at least one) would move one per pass.
    monkeypatch.setattr(consolidation, "DISRUPTION_BUDGET", 1.0)
    # An m5.2xlarge per pod, each kubelet taking one pod: no pod fits on another's node.
    nodeless.policy(capacity_types=["on_demand"], families_allow=["m5"], min_vcpu=8, max_pods_per_node=1)
    apps: Any = k8s.AppsV1Api(kube_client(nodeless.sim))  # Any: takes dict manifests
    names = ("one", "two", "three")
    for name in names:
        apps.create_namespaced_deployment("default", _deployment(name, 1, cpu="600m", memory="1Gi"))
    nodeless.until(
        lambda: all(any(p.status.phase == "Running" for p in _pods(nodeless, app)) for app in names)
    )
    assert [row.instance_type for row in nodeless.rows(state=NodeState.READY)] == ["m5.2xlarge"] * 3
    # Now an m5.large (holding three such pods) is allowed: two nodes' pods go to one of them.
    nodeless.policy(capacity_types=["on_demand"], families_allow=["m5"], scale_down_delay_seconds=0)
    nodeless.until(lambda: nodeless.rows(replaced_by__isnull=False))
    by_replacement: dict[Any, list] = {}
    for row in nodeless.rows(replaced_by__isnull=False):
        by_replacement.setdefault(row.replaced_by_id, []).append(row)
    (shared,) = [rows for rows in by_replacement.values() if len(rows) == 2]
    (replacement,) = nodeless.rows(pk=shared[0].replaced_by_id)
    assert replacement.instance_type == "m5.large"
    moved = sorted(row.node_name for row in shared)
    decision = Decision.objects.get(
        cluster=nodeless.cluster, kind=DecisionKind.CONSOLIDATE, subject=", ".join(moved)
    )
    assert "replacing these 2 nodes with m5.large" in decision.reason
    apps_moved = [app for app in names if _pods(nodeless, app)[0].spec.node_name in moved]
    assert len(apps_moved) == 2

    def ready_or_untouched() -> bool:
        """After every pass: until the replacement is Ready, the old nodes are as they were."""
        replacement.refresh_from_db()
        if replacement.state != NodeState.READY:
            assert {row.state for row in nodeless.rows(pk__in=[row.pk for row in shared])} == {
                NodeState.READY
            }
            assert not any(nodeless.core.read_node(name).spec.unschedulable for name in moved)
        return replacement.state == NodeState.READY

    assert not ready_or_untouched()  # the pass that recorded the move launched the replacement
    nodeless.until(ready_or_untouched, timeout=120)
    # Drained then; the Deployments' new pods run where the plan put the old ones.
    nodeless.until(
        lambda: all(
            any(
                p.status.phase == "Running" and p.spec.node_name == replacement.node_name
                for p in _pods(nodeless, app)
            )
            for app in apps_moved
        ),
        timeout=120,
    )
    nodeless.until(
        lambda: all(
            row.state in (NodeState.TERMINATING, NodeState.TERMINATED)
            for row in nodeless.rows(pk__in=[row.pk for row in shared])
        )
    )
