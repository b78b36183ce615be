"""Node lifecycle from the simulated cloud, driven the way the product will drive it: instances
launched and terminated through the product's AWS provider, observed with the Kubernetes client."""

import pytest
from kubernetes import client

from clusters.cloud.interface import LaunchRequest, NoticeKind, Offering
from engines.kube.capacity import CapacityType
from tests.fixtures.simulation import kube_api, node_launch_template, placement, wait_for


@pytest.fixture
def cluster(simulated_cloud, simulated_cluster):
    return simulated_cluster(
        cloud=simulated_cloud, boot_delay=5, node_removal_delay=120, cloud_poll_interval=30
    )


@pytest.fixture
def core(cluster, kube_client):
    return kube_api(client.CoreV1Api, kube_client(cluster))


@pytest.fixture
def provider(cluster, cloud_provider):
    return cloud_provider(cluster.name)


def launch(provider, simulated_cloud, cluster, token, offering, extra_tags=None, template=None):
    """Launch one instance from a launch template that joins the cluster (one for the offering's
    architecture unless `template` names another)."""
    arch = (
        "arm64"
        if simulated_cloud.catalog.instance_type(offering.instance_type).arch.startswith("arm64")
        else "x86_64"
    )
    template = template or node_launch_template(simulated_cloud, cluster.name, arch=arch)
    tags = {simulated_cloud.clusters[cluster.name].tag_key: "owned", **(extra_tags or {})}
    where = placement(simulated_cloud, cluster.name, template, offering.zone)
    return provider.launch(LaunchRequest((offering,), token, tags, placements=(where,))).instance


def node_of(core, instance_id):
    nodes = [
        n for n in core.list_node().items if n.spec.provider_id and n.spec.provider_id.endswith(instance_id)
    ]
    return nodes[0] if nodes else None


def ready(node):
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def test_a_launched_instance_registers_as_a_ready_node_and_runs_pods(
    simulated_cloud, cluster, core, provider
):
    instance = launch(
        provider, simulated_cloud, cluster, "boot-1", Offering("c7g.large", "us-east-1b", CapacityType.SPOT)
    )
    node = wait_for(lambda: node_of(core, instance.instance_id))
    assert ready(node)
    labels = node.metadata.labels
    assert (
        labels["node.kubernetes.io/instance-type"],
        labels["topology.kubernetes.io/zone"],
        labels["kubernetes.io/arch"],
    ) == ("c7g.large", "us-east-1b", "arm64")
    # A kubelet sets the well-known labels only: the capacity type is the controller's to label.
    assert "karpenter.sh/capacity-type" not in labels
    assert node.spec.provider_id == f"aws:///us-east-1b/{instance.instance_id}"
    [described] = [i for i in provider.list_instances({}) if i.instance_id == instance.instance_id]
    assert node.metadata.name == described.private_dns_name  # kubelet registers under the EC2 DNS name
    # c7g.large: 2 vCPU, 4096 MiB, 29 pods: 2000m - 70m; 4096 - (11 * 29 + 255) - 100 MiB.
    assert node.status.allocatable["cpu"] == "1930m"
    assert node.status.allocatable["memory"] == f"{(4096 - 574 - 100) * 1024}Ki"
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "on-arm"},
            "spec": {
                "nodeSelector": {"kubernetes.io/arch": "arm64"},
                "containers": [{"name": "c", "image": "i"}],
            },
        },
    )
    running = wait_for(
        lambda: (p := core.read_namespaced_pod("on-arm", "default")).status.phase == "Running" and p
    )
    assert running.spec.node_name == node.metadata.name


def test_node_labels_and_taints_come_from_kubelet_flags_never_from_instance_tags(
    simulated_cloud, cluster, core, provider
):
    template = node_launch_template(
        simulated_cloud,
        cluster.name,
        labels={"team": "ml", "node.kubernetes.io/pool": "a"},
        taints=(("nodeless.io/reserved", "pod-1", "NoSchedule"),),
        max_pods=17,
    )
    instance = launch(
        provider,
        simulated_cloud,
        cluster,
        "tagged-1",
        Offering("m5.large", "us-east-1a", CapacityType.ON_DEMAND),
        {"nodeless.io/node-labels": "stolen=yes", "environment": "prod"},
        template=template,
    )
    node = wait_for(lambda: node_of(core, instance.instance_id))
    labels = node.metadata.labels
    assert labels["team"] == "ml" and labels["node.kubernetes.io/pool"] == "a"
    assert "stolen" not in labels and "environment" not in labels  # a real kubelet never reads EC2 tags
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [
        ("nodeless.io/reserved", "pod-1", "NoSchedule")
    ]
    assert node.status.allocatable["pods"] == "17"  # the NodeConfig's maxPods, not the ENI limit (29)


def test_a_terminated_instance_s_node_goes_not_ready_then_away_with_its_pods(
    simulated_cloud, cluster, core, provider
):
    instance = launch(
        provider,
        simulated_cloud,
        cluster,
        "doomed-1",
        Offering("m5.large", "us-east-1c", CapacityType.ON_DEMAND),
    )
    node = wait_for(lambda: node_of(core, instance.instance_id))
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "victim"},
            "spec": {"nodeName": node.metadata.name, "containers": [{"name": "c", "image": "i"}]},
        },
    )
    provider.terminate([instance.instance_id])
    not_ready = wait_for(
        lambda: (n := node_of(core, instance.instance_id)) is not None and not ready(n) and n
    )
    assert any(t.key == "node.kubernetes.io/unreachable" for t in not_ready.spec.taints)
    wait_for(lambda: node_of(core, instance.instance_id) is None)
    wait_for(lambda: not core.list_namespaced_pod("default", field_selector="metadata.name=victim").items)


def test_a_spot_interruption_is_noticed_then_the_instance_terminates_two_minutes_later(
    simulated_cloud, cluster, core, provider
):
    instance = launch(
        provider, simulated_cloud, cluster, "spot-1", Offering("m5.large", "us-east-1a", CapacityType.SPOT)
    )
    wait_for(lambda: node_of(core, instance.instance_id))
    injected = simulated_cloud.interrupt(instance.instance_id)
    assert injected.terminates_at - injected.noticed_at == 120
    notices = provider.read_interruption_notices()
    assert [(n.kind, n.instance_id) for n in notices] == [
        (NoticeKind.SPOT_INTERRUPTION, instance.instance_id)
    ]
    assert (notices[0].deadline - notices[0].noticed_at).total_seconds() == 120
    # Read notices stay hidden for the queue's visibility timeout until the loop acknowledges them
    # (so a pass that fails before acting loses none); acknowledged ones are gone.
    assert provider.read_interruption_notices() == []
    provider.acknowledge_interruption_notices(notices)
    terminated = wait_for(
        lambda: [
            i
            for i in provider.list_instances({simulated_cloud.clusters[cluster.name].tag_key: "owned"})
            if i.instance_id == instance.instance_id and i.state.value == "terminated"
        ]
    )
    assert simulated_cloud.clock.now() >= injected.terminates_at
    assert terminated
    wait_for(lambda: node_of(core, instance.instance_id) is None)


def test_on_demand_instances_cannot_receive_spot_interruptions(simulated_cloud, cluster, provider):
    instance = launch(
        provider, simulated_cloud, cluster, "od-1", Offering("m5.large", "us-east-1a", CapacityType.ON_DEMAND)
    )
    with pytest.raises(ValueError, match="on-demand"):
        simulated_cloud.interrupt(instance.instance_id)
