"""The simulated AWS account and EKS cluster are as strict as the real ones: each test states the real
behaviour it holds the simulator to."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError
from kubernetes import client

from clusters.cloud.interface import LaunchRequest, Offering
from clusters.cloud.nodeadm import ClusterJoin
from engines.kube.capacity import CapacityType
from simulator.cloud.eks_world import CLUSTER_VERSION
from simulator.controllers.nodeadm import ExpectedCluster, JoinRefused, kubelet_settings
from simulator.resources import NODES
from tests.fixtures.connections import controller_policy
from tests.fixtures.simulation import gateway_client, kube_api, node_launch_template, placement, wait_for

OFFERING = Offering("m5.large", "us-east-1a", CapacityType.ON_DEMAND)


@pytest.fixture
def cluster(simulated_cloud, simulated_cluster):
    return simulated_cluster(cloud=simulated_cloud, boot_delay=0, cloud_poll_interval=1)


@pytest.fixture
def core(cluster, kube_client):
    return kube_api(client.CoreV1Api, kube_client(cluster))


def _ec2(cloud):
    return cloud.admin.client("ec2", cloud.customer_account_id, cloud.region)


def _launch(cloud, cluster, provider, token, template, offering=OFFERING, tags=None):
    request = LaunchRequest(
        (offering,),
        token,
        {cloud.clusters[cluster.name].tag_key: "owned", **(tags or {})},
        placements=(placement(cloud, cluster.name, template, offering.zone),),
    )
    return provider.launch(request).instance


def test_a_fresh_account_has_the_cluster_network_and_no_launch_template(simulated_cloud, cluster):
    """An EKS cluster's account holds its VPC, subnets and the cluster security group EKS creates;
    no launch template exists until someone creates one."""
    eks = simulated_cloud.admin.client("eks", simulated_cloud.customer_account_id, simulated_cloud.region)
    described = eks.describe_cluster(name=cluster.name)["cluster"]
    vpc = described["resourcesVpcConfig"]
    network = simulated_cloud.clusters[cluster.name].network
    assert described["version"] == CLUSTER_VERSION == "1.31"  # not moto's default 1.19
    assert sorted(vpc["subnetIds"]) == sorted(network.subnets.values())
    assert vpc["clusterSecurityGroupId"] == network.cluster_security_group_id
    assert vpc["vpcId"] == network.vpc_id
    assert described["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == "172.20.0.0/16"
    names = [
        t["LaunchTemplateName"] for t in _ec2(simulated_cloud).describe_launch_templates()["LaunchTemplates"]
    ]
    assert f"nodeless-{cluster.name}" not in names


def test_ssm_serves_the_eks_al2023_ami_parameters(simulated_cloud, control_plane_session):
    """/aws/service/eks/optimized-ami/<k8s>/amazon-linux-2023/<arch>/<variant>/recommended/image_id;
    there is no Neuron image for arm64 (ParameterNotFound)."""
    ssm = control_plane_session.client("ssm", endpoint_url=simulated_cloud.endpoint_url)
    name = f"/aws/service/eks/optimized-ami/{CLUSTER_VERSION}/amazon-linux-2023/arm64/nvidia/recommended/image_id"
    value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    assert value == simulated_cloud.amis.recommended(CLUSTER_VERSION, "arm64", "nvidia")
    with pytest.raises(ClientError, match="ParameterNotFound"):
        ssm.get_parameter(Name=name.replace("arm64/nvidia", "arm64/neuron"))


def test_create_fleet_is_refused_without_a_launch_template(simulated_cloud, cluster, cloud_provider):
    """InvalidLaunchTemplateId.NotFound: EC2 launches nothing from a template that does not exist."""
    provider = cloud_provider(cluster.name)
    with pytest.raises(Exception, match="InvalidLaunchTemplateId.NotFound|does not exist"):
        _launch(simulated_cloud, cluster, provider, "no-template-1", "lt-0000000000000000f")


def test_create_fleet_is_refused_with_an_unknown_subnet(simulated_cloud, cluster, control_plane_session):
    """InvalidSubnetID.NotFound for an override naming a subnet that does not exist."""
    template = node_launch_template(simulated_cloud, cluster.name)
    ec2 = control_plane_session.client("ec2", endpoint_url=simulated_cloud.endpoint_url)
    with pytest.raises(ClientError) as refused:
        ec2.create_fleet(
            Type="instant",
            TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
            LaunchTemplateConfigs=[
                {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "1"},
                    "Overrides": [{"InstanceType": "m5.large", "SubnetId": "subnet-0123456789abcdef0"}],
                }
            ],
        )
    assert refused.value.response["Error"]["Code"] == "InvalidSubnetID.NotFound"


def test_create_fleet_needs_the_request_tags_the_policy_requires_on_every_resource(
    simulated_cloud, cluster, aws_world
):
    """The controller policy allows CreateFleet on fleet, instance, volume and network-interface only
    with aws:RequestTag conditions: a request tagging only the instance is denied."""
    from clusters.onboarding.aws import assume_role

    role_arn = aws_world.role("ext-tags-1")
    template = node_launch_template(simulated_cloud, cluster.name)
    session = assume_role(role_arn=role_arn, external_id="ext-tags-1", region=simulated_cloud.region)
    ec2 = session.client("ec2", endpoint_url=simulated_cloud.endpoint_url)
    tags = [
        {"Key": "nodeless.io/managed-by", "Value": "nodeless"},
        {"Key": "nodeless.io/cluster", "Value": "c"},
    ]
    subnet = simulated_cloud.clusters[cluster.name].network.subnets["us-east-1a"]

    def fleet(kinds: list[str]) -> Any:
        specifications: Any = [{"ResourceType": kind, "Tags": tags} for kind in kinds]
        return ec2.create_fleet(
            Type="instant",
            DryRun=True,
            TargetCapacitySpecification={"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand"},
            LaunchTemplateConfigs=[
                {
                    "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "1"},
                    "Overrides": [{"InstanceType": "m5.large", "SubnetId": subnet}],
                }
            ],
            TagSpecifications=specifications,
        )

    with pytest.raises(ClientError) as denied:
        fleet(["instance"])
    assert denied.value.response["Error"]["Code"] == "UnauthorizedOperation"
    assert "fleet/*" in denied.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as allowed:
        fleet(["fleet", "instance", "volume", "network-interface"])
    assert allowed.value.response["Error"]["Code"] == "DryRunOperation"
    assert controller_policy(simulated_cloud)["Statement"]  # the stack's own policy, resolved


def test_instance_metadata_tags_refuse_keys_with_a_slash(simulated_cloud, cluster, cloud_provider):
    """With instance tags in metadata enabled, tag keys may not contain '/' and the launch fails."""
    template = node_launch_template(
        simulated_cloud,
        cluster.name,
        metadata_options={"HttpTokens": "required", "InstanceMetadataTags": "enabled"},
    )
    with pytest.raises(Exception, match="cannot contain '/'"):
        _launch(simulated_cloud, cluster, cloud_provider(cluster.name), "imds-tags-1", template)


def test_a_node_without_an_access_entry_never_registers(simulated_cloud, simulated_cluster, cloud_provider):
    """The kubelet authenticates with its role's credentials: without an EC2_LINUX access entry EKS
    answers 401 Unauthorized and no Node appears."""
    other = simulated_cluster(cloud=simulated_cloud, boot_delay=0, cloud_poll_interval=1)
    template = node_launch_template(simulated_cloud, other.name, access_entry=False)
    instance = _launch(simulated_cloud, other, cloud_provider(other.name), "no-entry-1", template)
    reason = wait_for(lambda: other.refused_instances.get(instance.instance_id))
    assert "Unauthorized" in reason and "EC2_LINUX" in reason
    assert not other.api.store.list(NODES).items


def test_user_data_for_another_cluster_or_a_forbidden_label_never_registers(
    simulated_cloud, cluster, cloud_provider
):
    """nodeadm refuses a NodeConfig for another cluster; a kubelet refuses to start with a
    kubernetes.io label NodeRestriction would not let it set on itself."""
    wrong = node_launch_template(
        simulated_cloud,
        cluster.name,
        cluster_join=ClusterJoin(cluster.name, "https://elsewhere", "Q0E=", "10.100.0.0/16"),
    )
    forbidden = node_launch_template(
        simulated_cloud, cluster.name, labels={"node-role.kubernetes.io/worker": ""}, unchecked=True
    )
    provider = cloud_provider(cluster.name)
    first = _launch(simulated_cloud, cluster, provider, "wrong-cluster-1", wrong)
    second = _launch(simulated_cloud, cluster, provider, "forbidden-label-1", forbidden)
    assert "apiServerEndpoint" in wait_for(lambda: cluster.refused_instances.get(first.instance_id))
    assert "--node-labels" in wait_for(lambda: cluster.refused_instances.get(second.instance_id))


def test_an_x86_ami_on_a_graviton_instance_never_registers(simulated_cloud, cluster, cloud_provider):
    template = node_launch_template(simulated_cloud, cluster.name, arch="x86_64")
    offering = Offering("c7g.large", "us-east-1a", CapacityType.ON_DEMAND)
    instance = _launch(
        simulated_cloud, cluster, cloud_provider(cluster.name), "wrong-arch-1", template, offering
    )
    assert "built for x86_64" in wait_for(lambda: cluster.refused_instances.get(instance.instance_id))


def test_node_access_entries_take_no_groups_or_policies(simulated_cloud, cluster):
    """EKS grants EC2_LINUX entries their permissions itself: kubernetesGroups are refused."""
    eks = gateway_client(simulated_cloud, "eks")
    role_arn, _ = simulated_cloud.create_node_role("GroupsNodeRole")
    with pytest.raises(ClientError, match="InvalidParameterException"):
        eks.create_access_entry(
            clusterName=cluster.name,
            principalArn=role_arn,
            type="EC2_LINUX",
            kubernetesGroups=["system:nodes"],
        )


def test_nodeadm_reads_the_mime_nodeconfig_like_the_ami_does():
    expected = ExpectedCluster("c", "https://e", "Q0E=", "172.20.0.0/16")
    document = (
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="//"\n\n--//\n'
        "Content-Type: application/node.eks.aws\n\n"
        "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: c\n"
        "    apiServerEndpoint: https://e\n    certificateAuthority: Q0E=\n    cidr: 172.20.0.0/16\n"
        "  kubelet:\n    config:\n      maxPods: 17\n      registerWithTaints:\n      - {key: a, value: b, effect: NoSchedule}\n"
        "    flags: ['--node-labels=team=ml']\n--//--\n"
    )
    settings = kubelet_settings(base64.b64encode(document.encode()).decode(), expected)
    assert settings.labels == {"team": "ml"} and settings.max_pods == 17
    assert settings.taints == ({"key": "a", "value": "b", "effect": "NoSchedule"},)
    with pytest.raises(JoinRefused, match="MIME"):
        kubelet_settings(base64.b64encode(b"#!/bin/bash\n/etc/eks/bootstrap.sh c").decode(), expected)


def test_a_gpu_instance_on_the_standard_ami_advertises_no_gpu(simulated_cloud, cluster, cloud_provider, core):
    """The NVIDIA driver and device plugin come with the AL2023 nvidia AMI only."""
    offering = Offering("g4dn.xlarge", "us-east-1a", CapacityType.ON_DEMAND)
    provider = cloud_provider(cluster.name)
    plain = _launch(
        simulated_cloud,
        cluster,
        provider,
        "gpu-std-1",
        node_launch_template(simulated_cloud, cluster.name),
        offering,
    )
    nvidia = node_launch_template(simulated_cloud, cluster.name, variant="nvidia")
    accelerated = _launch(simulated_cloud, cluster, provider, "gpu-nv-1", nvidia, offering)

    def allocatable(instance_id: str) -> dict[str, str] | None:
        nodes = [n for n in core.list_node().items if (n.spec.provider_id or "").endswith(instance_id)]
        return nodes[0].status.allocatable if nodes else None

    assert "nvidia.com/gpu" not in wait_for(lambda: allocatable(plain.instance_id))
    assert wait_for(lambda: allocatable(accelerated.instance_id))["nvidia.com/gpu"] == "1"


def test_a_full_subnet_is_a_fleet_error_and_the_next_offering_is_tried(
    simulated_cloud, cluster, cloud_provider
):
    """EC2 answers InsufficientFreeAddressesInSubnet for an override whose subnet has no free address
    (an error of the fleet, which goes on to the next override), never a server error."""
    from clusters.cloud.errors import InsufficientCapacityError
    from clusters.cloud.interface import Placement

    ec2 = _ec2(simulated_cloud)
    network = simulated_cloud.clusters[cluster.name].network
    vpc = ec2.describe_subnets(SubnetIds=[network.subnets["us-east-1a"]])["Subnets"][0]["VpcId"]
    full = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.250.0/28", AvailabilityZone="us-east-1a")["Subnet"]
    free = full["AvailableIpAddressCount"]
    ec2.run_instances(ImageId="ami-0a0b0c0d0e0f10203", MinCount=free, MaxCount=free, InstanceType="m5.large",
                      SubnetId=full["SubnetId"])  # fmt: skip
    provider = cloud_provider(cluster.name)
    template = node_launch_template(simulated_cloud, cluster.name)
    tag = {simulated_cloud.clusters[cluster.name].tag_key: "owned"}
    with pytest.raises(InsufficientCapacityError) as refused:
        provider.launch(
            LaunchRequest((OFFERING,), "full-1", tag, placements=(Placement(template, 1, full["SubnetId"]),))
        )
    assert "InsufficientFreeAddressesInSubnet" in str(refused.value)
    other = Offering("m5.large", "us-east-1b", CapacityType.ON_DEMAND)
    launched = provider.launch(
        LaunchRequest((OFFERING, other), "full-2", tag, placements=(
            Placement(template, 1, full["SubnetId"]), placement(simulated_cloud, cluster.name, template, "us-east-1b")))
    )  # fmt: skip
    assert launched.offering == other
    assert [s.offering for s in launched.skipped] == [OFFERING]
