"""An observe-mode member running its own autoscaler is not "full": the federation loop reads what
Cluster Autoscaler (its status ConfigMap) or Karpenter (NodePool limits) can still add, as a
Karmada scheduler-estimator would, and places replicas there."""

from __future__ import annotations

import pytest

from policies.models import Placement
from tests.fixtures.federation import deployment, pool, submit
from workers.federation import run_pass
from workers.federation.observe import observe_member

pytestmark = pytest.mark.django_db

# What Cluster Autoscaler (1.30+) writes to kube-system/cluster-autoscaler-status, key "status".
CA_STATUS = """\
time: 2026-12-05 21:00:00.000000 +0000 UTC
autoscalerStatus: Running
clusterWide:
  health:
    status: Healthy
nodeGroups:
- name: workers
  health:
    status: Healthy
    nodeCounts:
      registered: {total: 1, ready: 1, notStarted: 0}
      longUnregistered: 0
      unregistered: 0
    cloudProviderTarget: 1
    minSize: 1
    maxSize: 4
  scaleUp:
    status: NoActivity
- name: gpus
  health:
    status: Healthy
    cloudProviderTarget: 0
    minSize: 0
    maxSize: 2
  scaleUp:
    status: Backoff
"""


@pytest.fixture
def autoscaled(member):
    """One m5.xlarge in node group "workers" (EKS labels its nodes with their group)."""
    return member(
        "autoscaled",
        {"cloud": "aws", "region": "us-east-1"},
        pools=(pool(1, "m5.xlarge", labels={"eks.amazonaws.com/nodegroup": "workers"}),),
    )


def _write_ca_status(member, status: str) -> None:
    body = {"metadata": {"name": "cluster-autoscaler-status"}, "data": {"status": status}}
    member.core.create_namespaced_config_map("kube-system", body)


def test_cluster_autoscaler_node_group_maximums_add_room(autoscaled) -> None:
    before = observe_member(autoscaled.cluster, set()).inventory
    assert before is not None and before.headroom.cpu_millis == 0
    _write_ca_status(autoscaled, CA_STATUS)
    from workers.federation import observe

    observe._headroom.clear()  # the loop reads limits again only every HEADROOM_SECONDS
    inventory = observe_member(autoscaled.cluster, set()).inventory
    assert inventory is not None
    node = inventory.nodes[0]
    # "workers" may grow from 1 to 4 nodes, each like its m5.xlarge; "gpus" is backing off.
    assert (inventory.headroom.cpu_millis, inventory.headroom.memory_mib) == (
        3 * node.cpu_millis,
        3 * node.memory_mib,
    )
    assert inventory.headroom.sources == ("Cluster Autoscaler group workers: 3 more nodes",)


def test_a_member_whose_autoscaler_can_grow_gets_replicas_its_nodes_cannot_hold_yet(
    cast, autoscaled, policy
) -> None:
    _write_ca_status(autoscaled, CA_STATUS)
    from workers.federation import observe

    observe._headroom.clear()
    workload = submit(cast, deployment(replicas=6, cpu="1"), policy("roomy", strategy="most_capacity"))
    run_pass(str(cast.org_a.pk))
    placed = {p.cluster.name: p.replicas for p in Placement.objects.filter(workload=workload)}
    # One m5.xlarge holds 3 one-core replicas; three more nodes hold the other 3.
    assert placed == {"autoscaled": 6}
