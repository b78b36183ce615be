"""Every instance Nodeless launches becomes a Ready node it uses, on the strict simulated AWS and EKS:
pending pod → launch template written → instance → node registered from its user data → recognised
by providerID → pod Running → node gone after scale-down; one test per path. And what keeps a node
from joining (no access entry, no subnet in a zone, a new AMI) shows on the cluster page and makes no
relaunch loop."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from clusters.models import NodeClass, NodeState
from clusters.services.node_classes import node_class_refresh
from policies.models import Decision, DecisionKind
from simulator.cloud.eks_world import CLUSTER_VERSION
from tests.fixtures.pages import get_page

pytestmark = pytest.mark.django_db
PAGE_QUERIES = 30

# (name, policy changes, pod options, EC2 architecture, AMI variant, capacity type)
PATHS = [
    ("on-demand", {"capacity_types": ["on_demand"]}, {}, "x86_64", "standard", "on_demand"),
    ("spot", {"capacity_types": ["spot"]}, {}, "x86_64", "standard", "spot"),
    (
        "gpu",
        {"capacity_types": ["on_demand"]},
        {"gpus": 1, "cpu": "1", "memory": "4Gi"},
        "x86_64",
        "nvidia",
        "on_demand",
    ),
    (
        "arm64",
        {"capacity_types": ["on_demand"]},
        {"node_selector": {"kubernetes.io/arch": "arm64"}},
        "arm64",
        "standard",
        "on_demand",
    ),
    (
        "isolated",
        {"capacity_types": ["on_demand"]},
        {"annotations": {"nodeless.io/isolate": "true"}},
        "x86_64",
        "standard",
        "on_demand",
    ),
]


def _ec2(world: Any) -> Any:
    cloud = world.aws.cloud
    return cloud.admin.client("ec2", cloud.customer_account_id, cloud.region)


def _instance(world: Any, instance_id: str) -> dict[str, Any]:
    reservations = _ec2(world).describe_instances(InstanceIds=[instance_id])["Reservations"]
    return dict(reservations[0]["Instances"][0])


def _launch_figures(world: Any, record_property: Any) -> None:
    """Every launch became a Ready node and the strict cloud refused none (recorded for the junit
    report: `--junitxml` sums them over a run)."""
    launched = [row for row in world.rows() if row.instance_id]
    refused = len(world.sim.refused_instances) + len(world.rows(state=NodeState.FAILED))
    record_property("launches", len(launched))
    record_property("ready", sum(1 for row in launched if row.ready_at))
    record_property("refused", refused)
    assert all(row.ready_at for row in launched) and refused == 0


@pytest.mark.parametrize(
    ("path", "policy", "pod", "arch", "variant", "capacity"), PATHS, ids=[p[0] for p in PATHS]
)
def test_a_pending_pod_gets_a_node_that_joins_from_its_user_data_and_goes_after_scale_down(
    nodeless, record_property, path, policy, pod, arch, variant, capacity
) -> None:
    nodeless.policy(**policy)
    nodeless.create_pod(
        "app",
        cpu=pod.get("cpu", "500m"),
        memory=pod.get("memory", "512Mi"),
        run_seconds=5,
        **{k: v for k, v in pod.items() if k not in ("cpu", "memory")},
    )
    nodeless.until(lambda: nodeless.pod("app").status.phase in ("Running", "Succeeded"))
    (row,) = nodeless.rows()
    assert row.capacity_type == capacity

    # The launch template the product wrote for this shape, with the AMI for the cluster's version.
    node_class = NodeClass.objects.get(cluster=nodeless.cluster)
    assert node_class.access_entry in ("created", "present") and not node_class.problem
    instance = _instance(nodeless, row.instance_id)
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    (template,) = [
        t for t in node_class.launch_templates.values() if t["id"] == tags["aws:ec2launchtemplate:id"]
    ]
    # The AMI of the instance type's architecture (the planner may choose Graviton for a plain pod).
    type_arch = nodeless.aws.cloud.catalog.instance_type(row.instance_type).arch
    assert type_arch.startswith(template["arch"]) and template["variant"] == variant
    if arch == "arm64":
        assert template["arch"] == "arm64"
    assert template["ami"] == nodeless.aws.cloud.amis.recommended(CLUSTER_VERSION, template["arch"], variant)
    assert instance["SubnetId"] == node_class.subnets[row.zone]  # every override names a subnet
    assert instance["MetadataOptions"]["HttpTokens"] == "required"

    # Registered the stock EKS way, recognised by providerID and used.
    node = nodeless.core.read_node(row.node_name)
    assert node.spec.provider_id == f"aws:///{row.zone}/{row.instance_id}"
    assert node.metadata.name == instance["PrivateDnsName"] and node.metadata.name.endswith(".ec2.internal")
    labels = node.metadata.labels
    assert labels["nodeless.io/managed-by"] == "nodeless"
    assert labels["karpenter.sh/capacity-type"] == capacity.replace("_", "-")  # applied after registration
    assert "node-role.kubernetes.io/nodeless" in labels  # a label NodeRestriction keeps from the kubelet
    assert "nodeless.io/node-id" not in labels
    if path == "isolated":
        assert any(t.key == "nodeless.io/reserved-for" for t in node.spec.taints)
    assert nodeless.pod("app").spec.node_name == row.node_name
    _launch_figures(nodeless, record_property)

    nodeless.until(lambda: nodeless.pod("app").status.phase == "Succeeded")
    nodeless.until(lambda: row.refresh_from_db() or row.state == NodeState.TERMINATED, timeout=90)
    assert _instance(nodeless, row.instance_id)["State"]["Name"] in ("shutting-down", "terminated")
    nodeless.until(lambda: row.node_name not in {n.metadata.name for n in nodeless.core.list_node().items})


def test_a_node_class_problem_keeps_pods_pending_with_the_reason_and_launches_nothing(
    nodeless, client
) -> None:
    """No access entry (and no permission to create it): instances would never join, so none is
    launched; the reason is on the cluster page, the API and the pod's decision."""
    cloud = nodeless.aws.cloud
    node_class = NodeClass.objects.get(cluster=nodeless.cluster)
    node_class.node_role_arn = f"arn:aws:iam::{cloud.customer_account_id}:role/NotANodeRole"
    node_class.save()
    refreshed = node_class_refresh(nodeless.cluster, create_access_entry=False)
    assert "nodes cannot authenticate" in refreshed.problem and "EC2_LINUX" in refreshed.problem
    nodeless.create_pod("waits", run_seconds=5)
    for _ in range(3):
        report = nodeless.reconcile()
    assert report.launched == 0 and not nodeless.rows()
    assert "no node can be launched" in report.pending["default/waits"]
    assert Decision.objects.filter(cluster=nodeless.cluster, kind=DecisionKind.PENDING).exists()
    client.force_login(nodeless.cast.alice)
    page = get_page(client, reverse("cluster-detail", args=[nodeless.cluster.pk]), queries=PAGE_QUERIES)
    assert b"No node can be launched" in page.content
    api = client.get(reverse("api-cluster-node-class", args=[nodeless.cluster.pk]))
    assert api.status_code == 200 and "EC2_LINUX" in api.json()["problem"]


def test_a_zone_without_a_subnet_is_no_offering(nodeless, record_property) -> None:
    node_class = NodeClass.objects.get(cluster=nodeless.cluster)
    node_class.subnets = {"us-east-1b": node_class.subnets["us-east-1b"]}
    node_class.save()
    nodeless.policy(capacity_types=["on_demand"])
    nodeless.create_pod("zonal", run_seconds=5)
    nodeless.until(lambda: nodeless.pod("zonal").status.phase in ("Running", "Succeeded"))
    (row,) = nodeless.rows()
    assert row.zone == "us-east-1b"
    assert all(o["zone"] == "us-east-1b" for o in row.offerings)
    _launch_figures(nodeless, record_property)


def test_a_new_ami_rolls_the_launch_template_forward_and_shows_as_drift(
    nodeless, client, record_property
) -> None:
    nodeless.policy(capacity_types=["on_demand"])
    # do-not-evict: consolidation leaves the first node alone, so any relaunch would be drift's doing.
    nodeless.create_pod("first", run_seconds=3600, annotations={"nodeless.io/do-not-evict": "true"})
    nodeless.until(lambda: nodeless.pod("first").status.phase == "Running")
    (first,) = nodeless.rows()
    before = dict(NodeClass.objects.get(cluster=nodeless.cluster).launch_templates)
    nodeless.aws.cloud.amis.release()
    node_class = node_class_refresh(nodeless.cluster)
    assert "New EKS AMIs" in node_class.drift and not node_class.problem
    nodeless.create_pod("second", cpu="3", memory="6Gi", run_seconds=3600)
    nodeless.until(lambda: nodeless.pod("second").status.phase == "Running")
    after = NodeClass.objects.get(cluster=nodeless.cluster).launch_templates
    rolled = [k for k in before if k in after and after[k]["version"] > before[k]["version"]]
    new_amis = {t["ami"] for t in after.values()}
    assert rolled or new_amis - {t["ami"] for t in before.values()}
    # The running node is not relaunched: drift is shown, not acted on.
    first.refresh_from_db()
    assert first.state == NodeState.READY and len(nodeless.rows(state=NodeState.READY)) == 2
    _launch_figures(nodeless, record_property)
    client.force_login(nodeless.cast.alice)
    page = get_page(client, reverse("cluster-detail", args=[nodeless.cluster.pk]), queries=PAGE_QUERIES)
    assert b"New EKS AMIs" in page.content


def test_a_node_registered_the_stock_way_is_matched_by_provider_id_not_by_label(nodeless) -> None:
    """A node whose kubelet set none of our labels (joined by another bootstrap) is still ours: the
    loop finds it by its providerID and labels it."""
    nodeless.policy(capacity_types=["on_demand"])
    nodeless.create_pod("plain", run_seconds=3600)
    nodeless.until(lambda: nodeless.pod("plain").status.phase == "Running")
    (row,) = nodeless.rows()
    node = nodeless.core.read_node(row.node_name)
    nodeless.core.patch_node(row.node_name, {"metadata": {"labels": {"nodeless.io/managed-by": None}}})
    row.state = NodeState.PENDING
    row.save(update_fields=["state"])
    nodeless.until(lambda: row.refresh_from_db() or row.state == NodeState.READY)
    relabelled = nodeless.core.read_node(row.node_name)
    assert relabelled.metadata.labels["nodeless.io/managed-by"] == "nodeless"
    assert relabelled.spec.provider_id == node.spec.provider_id
    assert len(nodeless.rows()) == 1  # recognised, not relaunched


def test_a_role_that_may_not_create_the_access_entry_is_told_which_permission_is_missing(nodeless) -> None:
    """Importing creates the node role's EC2_LINUX entry; when the role may not, the node class says
    which permission to grant (and launches wait), instead of launching instances that get 401."""
    cloud = nodeless.aws.cloud
    role_name = nodeless.cluster.cloud_account.role_arn.rsplit("/", 1)[-1]
    iam = cloud.admin.client("iam", cloud.customer_account_id)
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="NoAccessEntries",
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": '
        '"eks:CreateAccessEntry", "Resource": "*"}]}',
    )
    cloud.gateway.enforcer.invalidate()
    other_role, _ = cloud.create_node_role("AnotherNodeRole")
    node_class = NodeClass.objects.get(cluster=nodeless.cluster)
    node_class.node_role_arn = other_role
    node_class.save()
    refreshed = node_class_refresh(nodeless.cluster)
    assert "eks:CreateAccessEntry" in refreshed.problem and refreshed.access_entry == ""
