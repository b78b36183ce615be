"""The demo connects its simulated world the way a customer would, on the strict simulated AWS: the
stack (the simulated onboarding) creates the roles, the product's import creates the node role's
access entry, and the first pending pod gets a node that joins from the launch template the product
wrote."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s

from clusters.models import Cluster, ClusterStatus, ManagedNode, NodeClass, NodeState
from clusters.onboarding.aws import eks_tokens
from lab.demo.seed import demo_connect, demo_owner
from policies.federation.manifests import parse_manifest
from policies.federation.services import choose_policy
from simulator.runner import Simulation, SimulationSpec
from tests.fixtures.federation import deployment
from tests.fixtures.provisioning import pod_manifest
from tests.fixtures.simulation import kube_api, wait_for
from workers.provisioning.reconcile import reconcile_cluster

pytestmark = pytest.mark.django_db


def test_the_demo_s_nodeless_cluster_launches_nodes_that_join(tmp_path: Path, kube_client, settings) -> None:
    spec = SimulationSpec(eks_clusters=1, onprem_clusters=0, boot_delay=0, cloud_poll_interval=1, seed=7)
    with Simulation(spec, tmp_path) as simulation:
        descriptor = simulation.descriptor
        assert descriptor is not None and descriptor.aws is not None
        settings.NODELESS_AWS_ENDPOINT_URL = descriptor.aws.endpoint_url
        settings.NODELESS_EKS_ENDPOINT_OVERRIDES = descriptor.eks_endpoints_file
        eks_tokens.clear()
        try:
            owner = demo_owner()
            (name,) = demo_connect(owner, descriptor)
            cluster = Cluster.objects.get(name=name)
            assert cluster.status == ClusterStatus.CONNECTED, cluster.health_problem
            # A first Deployment submitted without naming a policy is placed on-prem first, then on EKS.
            first = parse_manifest(deployment("web", namespace="default"))
            chosen = choose_policy(owner.organization, parsed=first, requested=None)
            assert chosen.name == "onprem-first" and chosen.spec["strategy"] == "fill_then_burst"
            node_class = NodeClass.objects.get(cluster=cluster)
            assert node_class.access_entry == "created" and not node_class.problem
            assert node_class.subnets and node_class.amis
            sim = simulation.clusters[name]
            core = kube_api(k8s.CoreV1Api, kube_client(sim))
            core.create_namespaced_pod("default", pod_manifest("first", run_seconds=600))

            def running() -> bool:
                reconcile_cluster(str(cluster.pk))
                return core.read_namespaced_pod("first", "default").status.phase == "Running"

            wait_for(running, timeout=60, interval=0.1)
            (row,) = ManagedNode.objects.filter(cluster=cluster)
            assert row.state == NodeState.READY and not sim.refused_instances
        finally:
            eks_tokens.clear()
