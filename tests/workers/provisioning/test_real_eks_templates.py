"""The launch templates Nodeless owns, on the strict simulated EC2: the root volume size comes from the
node class (a new size is a new version), old versions are deleted as EC2 allows (never the default
one), the templates go when the cluster leaves nodeless mode or is removed, and Inferentia/Trainium
offerings get the Neuron AMI, and burstable nodes run in the credit mode the planner priced."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clusters.cloud.nodeadm import KubeletShape
from clusters.models import Cluster, NodeClass
from clusters.services import cluster_delete, cluster_update
from clusters.services.node_classes import (
    TemplateSpec,
    _aws,
    node_class_refresh,
    node_class_templates,
    node_class_update,
)
from simulator.cloud.eks_world import CLUSTER_VERSION
from tenants.actors import Actor

pytestmark = pytest.mark.django_db
SPEC = TemplateSpec("x86_64", "standard", KubeletShape(labels=(), taints=(), max_pods=58, vcpu=4), 20)


def _ec2(world: Any) -> Any:
    cloud = world.aws.cloud
    return cloud.admin.client("ec2", cloud.customer_account_id, cloud.region)


def _ours(world: Any) -> list[str]:
    found = _ec2(world).describe_launch_templates(
        Filters=[{"Name": "tag:nodeless.io/cluster", "Values": [str(world.cluster.pk)]}]
    )["LaunchTemplates"]
    return sorted(t["LaunchTemplateName"] for t in found)


def _fresh(world: Any) -> Cluster:
    return Cluster.objects.select_related("cloud_account", "organization").get(pk=world.cluster.pk)


def _volume(world: Any, template_id: str, version: int) -> int:
    (found,) = _ec2(world).describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=[str(version)]
    )["LaunchTemplateVersions"]
    return int(found["LaunchTemplateData"]["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"])


def test_the_root_volume_comes_from_the_node_class_and_old_versions_are_deleted(nodeless) -> None:
    actor = Actor(user=nodeless.cast.alice)
    node_class_update(nodeless.cast.org_a, cluster=nodeless.cluster, actor=actor, root_volume_gib=100)
    nodeless.policy(capacity_types=["on_demand"])
    nodeless.create_pod("app", run_seconds=3600)
    nodeless.until(lambda: nodeless.pod("app").status.phase == "Running")
    (row,) = nodeless.rows()
    (reservation,) = _ec2(nodeless).describe_instances(InstanceIds=[row.instance_id])["Reservations"]
    tags = {t["Key"]: t["Value"] for t in reservation["Instances"][0]["Tags"]}
    assert (
        _volume(nodeless, tags["aws:ec2launchtemplate:id"], int(tags["aws:ec2launchtemplate:version"])) == 100
    )
    templates = NodeClass.objects.get(cluster=nodeless.cluster).launch_templates.values()
    assert all(_volume(nodeless, t["id"], t["version"]) == 100 for t in templates)

    # Each new size is a new version of the same template; the one before stays, older ones go.
    cluster = _fresh(nodeless)
    node_class_refresh(cluster)
    versions = []
    for size in (100, 120, 140, 160):
        node_class_update(nodeless.cast.org_a, cluster=cluster, actor=actor, root_volume_gib=size)
        versions.append(node_class_templates(cluster, specs={SPEC.key: SPEC})[SPEC.key])
    assert [v.version for v in versions] == [1, 2, 3, 4] and len({v.template_id for v in versions}) == 1
    template_id = versions[0].template_id
    assert _volume(nodeless, template_id, 4) == 160
    # Read as the product reads it (through the strict gateway): only the last two versions are left.
    listed = _aws(cluster)._ec2.describe_launch_template_versions(LaunchTemplateId=template_id)
    assert sorted(v["VersionNumber"] for v in listed["LaunchTemplateVersions"]) == [3, 4]
    (described,) = _ec2(nodeless).describe_launch_templates(LaunchTemplateIds=[template_id])[
        "LaunchTemplates"
    ]
    assert described["DefaultVersionNumber"] == 4
    # The same size again writes nothing, and takes no lock: launches side by side must not queue
    # on the node class's row when there is nothing to write.
    with CaptureQueriesContext(connection) as queries:
        assert node_class_templates(cluster, specs={SPEC.key: SPEC})[SPEC.key].version == 4
    assert not [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    # A spec not written yet is written under the lock.
    other = TemplateSpec("arm64", "standard", SPEC.shape, 20)
    with CaptureQueriesContext(connection) as queries:
        node_class_templates(cluster, specs={SPEC.key: SPEC, other.key: other})
    assert [q["sql"] for q in queries.captured_queries if "FOR UPDATE" in q["sql"]]
    row.refresh_from_db()
    assert row.ready_at is not None  # the running node was never touched


def test_the_simulated_ec2_deletes_versions_as_ec2_does(nodeless) -> None:
    """Never the default version; a deleted or unknown version is reported per item; a deleted version
    cannot be described by number nor launched."""
    cluster = _fresh(nodeless)
    node_class_refresh(cluster)
    node_class_templates(cluster, specs={SPEC.key: SPEC})
    ec2 = _aws(cluster)._ec2
    template_id = NodeClass.objects.get(cluster=cluster).launch_templates[SPEC.key]["id"]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"][0]
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id, LaunchTemplateData=data["LaunchTemplateData"]
    )

    answer = ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["1", "9"])
    assert answer["SuccessfullyDeletedLaunchTemplateVersions"] == []
    codes = {
        v["VersionNumber"]: v["ResponseError"]["Code"]
        for v in answer["UnsuccessfullyDeletedLaunchTemplateVersions"]
    }
    assert codes == {1: "unexpectedError", 9: "launchTemplateVersionDoesNotExist"}  # 1 is the default

    deleted = ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["2"])
    assert [v["VersionNumber"] for v in deleted["SuccessfullyDeletedLaunchTemplateVersions"]] == [2]
    again = ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["2"])
    assert again["UnsuccessfullyDeletedLaunchTemplateVersions"][0]["ResponseError"]["Code"] == (
        "launchTemplateVersionDoesNotExist"
    )
    with pytest.raises(ClientError) as described:
        ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["2"])
    assert described.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.VersionNotFound"
    with pytest.raises(ClientError) as unknown:
        ec2.delete_launch_template_versions(LaunchTemplateId="lt-0123456789abcdef0", Versions=["2"])
    assert unknown.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.NotFound"

    subnet = next(iter(NodeClass.objects.get(cluster=cluster).subnets.values()))
    with pytest.raises(ClientError) as refused:
        launch(ec2, template_id, subnet, cluster)
    assert refused.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.VersionNotFound"


def launch(ec2: Any, template_id: str, subnet: str, cluster: Cluster) -> Any:
    return ec2.create_fleet(
        Type="instant",
        LaunchTemplateConfigs=[
            {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "2"},
                "Overrides": [{"InstanceType": "m5.large", "SubnetId": subnet}],
            }
        ],
        TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
        TagSpecifications=[
            {
                "ResourceType": kind,
                "Tags": [
                    {"Key": "nodeless.io/managed-by", "Value": "nodeless"},
                    {"Key": "nodeless.io/cluster", "Value": str(cluster.pk)},
                ],
            }
            for kind in ("fleet", "instance", "volume", "network-interface")
        ],
    )


def test_leaving_nodeless_mode_or_being_removed_deletes_the_launch_templates(nodeless, worker) -> None:
    actor = Actor(user=nodeless.cast.alice)
    cluster = _fresh(nodeless)
    node_class_refresh(cluster)
    node_class_templates(cluster, specs={SPEC.key: SPEC})
    assert len(_ours(nodeless)) == 1

    with worker.committing():
        cluster_update(nodeless.cast.org_a, cluster=cluster, actor=actor, mode="observe")
    assert worker.run() == ["workers.tasks.node_class_release"]
    assert _ours(nodeless) == []
    assert NodeClass.objects.get(cluster=cluster).launch_templates == {}

    # Back in nodeless mode: written again at the next launch; then the cluster is removed.
    Cluster.objects.filter(pk=cluster.pk).update(mode="nodeless")
    cluster = _fresh(nodeless)
    node_class_templates(cluster, specs={SPEC.key: SPEC})
    assert len(_ours(nodeless)) == 1
    with worker.committing():
        cluster_delete(nodeless.cast.org_a, cluster=cluster, actor=actor)
    assert "workers.tasks.node_class_release" in worker.run()
    assert _ours(nodeless) == []


def test_an_inferentia_offering_gets_the_neuron_ami_and_its_node_the_neuron_devices(nodeless) -> None:
    nodeless.policy(capacity_types=["on_demand"])
    nodeless.create_pod(
        "inference", run_seconds=3600, node_selector={"node.kubernetes.io/instance-type": "inf2.xlarge"}
    )
    nodeless.until(lambda: nodeless.pod("inference").status.phase == "Running")
    (row,) = nodeless.rows()
    assert row.instance_type == "inf2.xlarge"
    (template,) = NodeClass.objects.get(cluster=nodeless.cluster).launch_templates.values()
    assert template["variant"] == "neuron"
    assert template["ami"] == nodeless.aws.cloud.amis.recommended(CLUSTER_VERSION, "x86_64", "neuron")
    node = nodeless.core.read_node(row.node_name)
    assert node.status.capacity.get("aws.amazon.com/neuron") == "1"  # the Neuron AMI's device plugin


@pytest.mark.parametrize(
    ("instance_type", "unlimited", "expected"),
    [
        # EC2 would start a T3 in unlimited mode: the planner sized it by its baseline, so standard.
        ("t3.large", False, "standard"),
        # EC2 would start a T2 in standard mode: the policy opted in, and the surcharge was priced.
        ("t2.large", True, "unlimited"),
    ],
)
def test_a_burstable_node_runs_in_the_credit_mode_it_was_planned_for(
    nodeless, instance_type: str, unlimited: bool, expected: str
) -> None:
    nodeless.policy(capacity_types=["on_demand"], burstable_unlimited=unlimited)
    nodeless.create_pod(
        "app", cpu="200m", run_seconds=3600, node_selector={"node.kubernetes.io/instance-type": instance_type}
    )
    nodeless.until(lambda: nodeless.pod("app").status.phase == "Running")
    (row,) = nodeless.rows()
    assert row.instance_type == instance_type
    # Asked as the customer's administrator through the simulated EC2 endpoint (as EC2 answers), not
    # through moto's own client, which says "standard" for every instance.
    cloud = nodeless.aws.cloud
    ec2 = boto3.client(
        "ec2", endpoint_url=cloud.endpoint_url, region_name=cloud.region, **cloud.customer_admin_credentials()
    )
    (credits,) = ec2.describe_instance_credit_specifications(InstanceIds=[row.instance_id])[
        "InstanceCreditSpecifications"
    ]
    assert credits["CpuCredits"] == expected
