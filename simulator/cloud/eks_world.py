"""What a real AWS account holding an EKS cluster has, and nothing more: a VPC with one private
subnet per zone, the cluster security group EKS creates, the cluster itself (its real Kubernetes
version, `resourcesVpcConfig`, service CIDR, endpoint and CA), and the public SSM parameters that
name the EKS-optimized AL2023 AMIs. No launch template, no node role: whoever launches nodes creates
those (the onboarding stack creates the node role; the product creates its launch templates).

Sources: EKS `DescribeCluster` (resourcesVpcConfig carries `subnetIds`, `securityGroupIds`,
`clusterSecurityGroupId`, `vpcId`), https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html
(EKS creates `eks-cluster-sg-<cluster>-<id>`, tagged `aws:eks:cluster-name` and
`kubernetes.io/cluster/<cluster>=owned`), and
https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html for the SSM parameter names
(`/aws/service/eks/optimized-ami/<k8s>/amazon-linux-2023/<x86_64|arm64>/<standard|nvidia|neuron>/
recommended/image_id`; neuron exists for x86_64 only).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Any

from simulator.cloud.protocol import AwsError
from simulator.discovery import KUBERNETES_VERSION

CLUSTER_VERSION = KUBERNETES_VERSION.lstrip("v").rsplit(".", 1)[0]  # "1.31"
SERVICE_CIDR = "172.20.0.0/16"
VPC_CIDR = "10.0.0.0/16"
ARCHITECTURES = ("x86_64", "arm64")
VARIANTS = ("standard", "nvidia", "neuron")
_AMI_PARAMETER = re.compile(
    r"^/aws/service/eks/optimized-ami/(?P<version>[0-9.]+)/amazon-linux-2023/"
    r"(?P<arch>x86_64|arm64)/(?P<variant>standard|nvidia|neuron)/recommended/image_id$"
)


@dataclass(frozen=True)
class ClusterNetwork:
    vpc_id: str
    subnets: dict[str, str]  # zone -> subnet id
    cluster_security_group_id: str


def image_id(version: str, arch: str, variant: str, release: int) -> str:
    digest = hashlib.sha256(f"{version}/{arch}/{variant}/{release}".encode()).hexdigest()
    return f"ami-0{digest[:16]}"


class AmiReleases:
    """The recommended EKS AL2023 AMI per (Kubernetes version, arch, variant). `release()` publishes
    a new one (what AWS does every few weeks): the SSM value changes, old images keep existing."""

    def __init__(self) -> None:
        self._release = 1
        self._images: dict[str, tuple[str, str, str]] = {}  # image id -> (version, arch, variant)
        self._lock = threading.Lock()
        self._publish()

    def _publish(self) -> None:
        for version in (CLUSTER_VERSION, "1.30", "1.32", "1.33"):
            for arch in ARCHITECTURES:
                for variant in VARIANTS:
                    if variant == "neuron" and arch == "arm64":
                        continue
                    self._images[image_id(version, arch, variant, self._release)] = (version, arch, variant)

    def release(self) -> None:
        with self._lock:
            self._release += 1
            self._publish()

    def recommended(self, version: str, arch: str, variant: str) -> str:
        return image_id(version, arch, variant, self._release)

    def describe(self, image: str) -> tuple[str, str, str] | None:
        """(version, arch, variant) of an EKS AMI, None for any other image."""
        with self._lock:
            return self._images.get(image)

    def get_parameter(self, name: str, region: str, account: str) -> dict[str, Any]:
        match = _AMI_PARAMETER.match(name)
        if match is None or (match["variant"] == "neuron" and match["arch"] == "arm64"):
            raise AwsError("ParameterNotFound", f"Parameter {name} not found.")
        if match["version"] not in {v for v, _, _ in self._images.values()}:
            raise AwsError("ParameterNotFound", f"Parameter {name} not found.")
        value = self.recommended(match["version"], match["arch"], match["variant"])
        return {
            "Parameter": {
                "Name": name,
                "Type": "String",
                "Value": value,
                "Version": self._release,
                "DataType": "text",
                "ARN": f"arn:aws:ssm:{region}::parameter{name}",
            }
        }


def create_network(ec2: Any, cluster_name: str, zones: list[str]) -> ClusterNetwork:
    """A VPC with one private subnet per zone (10.0.<n>.0/24) and the EKS cluster security group."""
    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnets = {}
    for index, zone in enumerate(zones, start=1):
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=zone)
        subnets[zone] = subnet["Subnet"]["SubnetId"]
    suffix = hashlib.sha256(f"{cluster_name}/{vpc_id}".encode()).hexdigest()[:10]
    group = ec2.create_security_group(
        GroupName=f"eks-cluster-sg-{cluster_name}-{suffix}",
        Description="EKS created security group applied to ENI that is attached to EKS Control Plane "
        "master nodes, as well as any managed workloads.",
        VpcId=vpc_id,
        TagSpecifications=[
            {
                "ResourceType": "security-group",
                "Tags": [
                    {"Key": "aws:eks:cluster-name", "Value": cluster_name},
                    {"Key": f"kubernetes.io/cluster/{cluster_name}", "Value": "owned"},
                ],
            }
        ],
    )
    return ClusterNetwork(vpc_id, subnets, group["GroupId"])


def describe_vpc_config(network: ClusterNetwork) -> dict[str, Any]:
    """`resourcesVpcConfig` as DescribeCluster answers it (moto keeps only what CreateCluster got)."""
    return {
        "subnetIds": list(network.subnets.values()),
        "securityGroupIds": [],
        "clusterSecurityGroupId": network.cluster_security_group_id,
        "vpcId": network.vpc_id,
        "endpointPublicAccess": True,
        "endpointPrivateAccess": True,
        "publicAccessCidrs": ["0.0.0.0/0"],
    }


def set_vpc_config(account: str, region: str, cluster_name: str, network: ClusterNetwork) -> None:
    from moto.eks.models import eks_backends  # moto is loaded late (slow to import)

    cluster: Any = eks_backends[account][region].clusters[cluster_name]
    cluster.resources_vpc_config = describe_vpc_config(network)
    cluster.kubernetes_network_config = {"serviceIpv4Cidr": SERVICE_CIDR, "ipFamily": "ipv4"}
