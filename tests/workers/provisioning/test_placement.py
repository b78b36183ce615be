"""Bin-selection keeps isolated pods apart and reserved nodes private; bin-packing lands pods where
the planner placed them; capacity errors fall back within the same pass; limits hold."""

from __future__ import annotations

import pytest

from clusters.models import NodeState
from policies.models import Decision, DecisionKind
from workers.provisioning.pods import INITIALIZING_TAINT as INITIALIZING

pytestmark = pytest.mark.django_db


def test_isolated_pods_never_share_a_node_and_nothing_else_lands_on_a_reserved_node(nodeless) -> None:
    nodeless.policy(isolate_namespaces=["tenant-a"])
    for name in ("a1", "a2"):
        nodeless.create_pod(name, namespace="tenant-a", cpu="250m", memory="256Mi")
    report = nodeless.reconcile()
    assert report.launched == 2
    nodeless.until(lambda: all(nodeless.pod(n, "tenant-a").spec.node_name for n in ("a1", "a2")))
    a1, a2 = (nodeless.pod(n, "tenant-a").spec.node_name for n in ("a1", "a2"))
    assert a1 != a2
    reserved = {row.node_name: row for row in nodeless.rows(state=NodeState.READY)}
    assert {reserved[a1].reserved_for_pod, reserved[a2].reserved_for_pod} == {"tenant-a/a1", "tenant-a/a2"}
    # A small pod that would fit on either reserved node gets its own packed node instead.
    nodeless.create_pod("intruder", cpu="100m", memory="64Mi")
    nodeless.until(lambda: nodeless.pod("intruder").spec.node_name)
    assert nodeless.pod("intruder").spec.node_name not in (a1, a2)
    taints = {t.key for t in nodeless.core.read_node(a1).spec.taints or ()}
    assert "nodeless.io/reserved-for" in taints


def test_packed_pods_share_nodes_exactly_as_planned(nodeless) -> None:
    # Tiny pods: a node per pod would pay the per-node system reserve many times over.
    for index in range(10):
        nodeless.create_pod(f"p{index}", cpu="100m", memory="128Mi")
    report = nodeless.reconcile()
    assert 1 <= report.launched < 10
    planned = {entry["name"]: row.pk for row in nodeless.rows() for entry in row.planned_pods}
    assert set(planned) == {f"p{i}" for i in range(10)}
    nodeless.until(lambda: all(nodeless.pod(f"p{i}").spec.node_name for i in range(10)))
    node_of_row = {row.pk: row.node_name for row in nodeless.rows()}
    # Nodeless lets a pod onto its planned node by adding a toleration of that node's own
    # initializing taint (then kube-scheduler or Nodeless binds it there). Once the first node's
    # taint is lifted, kube-scheduler may place a pod planned for a node still booting on it, as
    # it would on a real cluster: such a pod never got a toleration for another node.
    on_plan = [name for name in planned if nodeless.pod(name).spec.node_name == node_of_row[planned[name]]]
    assert on_plan, "the first Ready node's planned pods land on it"
    for name in set(planned) - set(on_plan):
        tolerated = {t.value for t in nodeless.pod(name).spec.tolerations or () if t.key == INITIALIZING}
        assert not tolerated - {"true"}, f"{name} was let onto a node and landed on another"


def test_no_capacity_on_the_cheapest_offering_falls_back_in_the_same_pass(nodeless) -> None:
    nodeless.policy(capacity_types=["on_demand"])
    nodeless.create_pod("first", cpu="2", memory="4Gi", annotations={"nodeless.io/isolate": "true"})
    nodeless.reconcile()
    (first,) = nodeless.rows()
    nodeless.aws.cloud.exhaust_capacity(first.instance_type, first.zone, "on-demand")
    nodeless.create_pod("second", cpu="2", memory="4Gi", annotations={"nodeless.io/isolate": "true"})
    report = nodeless.reconcile()
    assert report.launched == 1
    second = nodeless.rows()[-1]
    assert second.state == NodeState.PENDING
    assert (second.instance_type, second.zone) != (first.instance_type, first.zone)
    fallback = Decision.objects.get(node=second, kind=DecisionKind.LAUNCH_FALLBACK)
    assert fallback.runner_ups[0]["instance_type"] == first.instance_type
    assert fallback.runner_ups[0]["error"] == "insufficient_capacity"


def test_limits_are_never_exceeded_and_the_pods_left_pending_say_why(nodeless) -> None:
    nodeless.policy(max_nodes=2)
    for index in range(4):
        nodeless.create_pod(f"iso{index}", cpu="1", memory="1Gi", annotations={"nodeless.io/isolate": "true"})
    report = nodeless.reconcile()
    assert report.launched == 2 and len(report.pending) == 2
    assert all("max_nodes=2" in reason for reason in report.pending.values()), report.pending
    assert nodeless.reconcile().launched == 0
    assert len(nodeless.rows()) == 2
    pending = Decision.objects.filter(cluster=nodeless.cluster, kind=DecisionKind.PENDING)
    assert pending.count() == 2  # once per pod and reason, not once per pass
