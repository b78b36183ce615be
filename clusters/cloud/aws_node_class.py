"""What a node class needs from a customer's AWS account, and the launch templates it owns
(boto3, under the customer's role). Karpenter's EC2NodeClass is the anchor:

- the cluster (`eks:DescribeCluster`): version, endpoint, CA, service CIDR, `resourcesVpcConfig`;
- subnets: those of `resourcesVpcConfig`, plus those carrying the customer's discovery tag; per
  zone, the one with the most free addresses;
- security groups: those carrying the discovery tag, else the cluster security group;
- AMIs: the public SSM parameters of the EKS-optimized AL2023 images for the cluster's version
  (`/aws/service/eks/optimized-ami/<k8s>/amazon-linux-2023/<arch>/<variant>/recommended/image_id`);
- the node role's `EC2_LINUX` access entry (created when missing and allowed);
- launch templates named per kubelet shape, a new version when what they hold changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from clusters.cloud.aws_errors import classify
from clusters.cloud.aws_session import AwsEndpoints, client
from clusters.cloud.errors import CloudError

AMI_PARAMETER = (
    "/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/{arch}/{variant}/recommended/image_id"
)
# (EC2 architecture, AMI variant) pairs EKS publishes for AL2023 (no Neuron image for arm64).
AMI_FLAVOURS = (
    ("x86_64", "standard"),
    ("x86_64", "nvidia"),
    ("x86_64", "neuron"),
    ("arm64", "standard"),
    ("arm64", "nvidia"),
)


@dataclass(frozen=True)
class EksFacts:
    version: str
    endpoint: str
    certificate_authority: str
    service_cidr: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    cluster_security_group_id: str
    security_group_ids: tuple[str, ...]
    authentication_mode: str


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    zone: str
    free_addresses: int


@dataclass(frozen=True)
class TemplateVersion:
    template_id: str
    name: str
    version: int


class AwsNodeClasses:
    def __init__(
        self, session: boto3.Session, region: str, endpoints: AwsEndpoints | None, role_arn: str = ""
    ) -> None:
        self.region, self.role_arn = region, role_arn
        self._ec2 = client(session, "ec2", endpoints)
        self._eks = client(session, "eks", endpoints)
        self._ssm = client(session, "ssm", endpoints)
        self._sqs = client(session, "sqs", endpoints)

    def _fail(self, error: ClientError | BotoCoreError, context: str) -> CloudError:
        return classify(error, role_arn=self.role_arn, context=context)

    def cluster(self, name: str) -> EksFacts:
        try:
            described = self._eks.describe_cluster(name=name)["cluster"]
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, f"describing the EKS cluster {name}") from error
        vpc = described.get("resourcesVpcConfig") or {}
        network = described.get("kubernetesNetworkConfig") or {}
        return EksFacts(
            version=str(described.get("version", "")),
            endpoint=str(described.get("endpoint", "")),
            certificate_authority=str((described.get("certificateAuthority") or {}).get("data", "")),
            service_cidr=str(network.get("serviceIpv4Cidr") or network.get("serviceIpv6Cidr") or ""),
            vpc_id=str(vpc.get("vpcId", "")),
            subnet_ids=tuple(vpc.get("subnetIds") or ()),
            cluster_security_group_id=str(vpc.get("clusterSecurityGroupId", "")),
            security_group_ids=tuple(vpc.get("securityGroupIds") or ()),
            authentication_mode=str((described.get("accessConfig") or {}).get("authenticationMode", "")),
        )

    def subnets(self, subnet_ids: Sequence[str], discovery_tag: tuple[str, str] | None) -> list[Subnet]:
        found: dict[str, Subnet] = {}
        queries: list[dict[str, Any]] = []
        if subnet_ids:
            queries.append({"SubnetIds": list(subnet_ids)})
        if discovery_tag:
            queries.append({"Filters": [{"Name": f"tag:{discovery_tag[0]}", "Values": [discovery_tag[1]]}]})
        try:
            for query in queries:
                for page in self._ec2.get_paginator("describe_subnets").paginate(**query):
                    for item in page["Subnets"]:
                        found[item["SubnetId"]] = Subnet(
                            item["SubnetId"],
                            item["AvailabilityZone"],
                            int(item.get("AvailableIpAddressCount", 0)),
                        )
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, "describing the cluster's subnets") from error
        return sorted(found.values(), key=lambda s: (s.zone, -s.free_addresses, s.subnet_id))

    def security_groups(self, discovery_tag: tuple[str, str] | None) -> list[str]:
        if not discovery_tag:
            return []
        try:
            groups = self._ec2.describe_security_groups(
                Filters=[{"Name": f"tag:{discovery_tag[0]}", "Values": [discovery_tag[1]]}]
            )["SecurityGroups"]
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, "describing security groups") from error
        return sorted(g["GroupId"] for g in groups)

    def amis(self, version: str) -> dict[str, str]:
        """`"<arch>/<variant>"` → the recommended image id (flavours EKS does not publish are left out)."""
        images = {}
        for arch, variant in AMI_FLAVOURS:
            name = AMI_PARAMETER.format(version=version, arch=arch, variant=variant)
            try:
                images[f"{arch}/{variant}"] = str(self._ssm.get_parameter(Name=name)["Parameter"]["Value"])
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
                    continue
                raise self._fail(error, f"reading the SSM parameter {name}") from error
            except BotoCoreError as error:
                raise self._fail(error, f"reading the SSM parameter {name}") from error
        return images

    def node_access_entry(self, cluster: str, role_arn: str, *, create: bool) -> str:
        """ "present" or "created"; raises CloudError naming what is missing."""
        try:
            entry = self._eks.describe_access_entry(clusterName=cluster, principalArn=role_arn)["accessEntry"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise self._fail(error, f"reading the access entry of {role_arn}") from error
        except BotoCoreError as error:
            raise self._fail(error, f"reading the access entry of {role_arn}") from error
        else:
            if entry.get("type") != "EC2_LINUX":
                raise CloudError(
                    f"{role_arn} has a {entry.get('type')} access entry on {cluster}; nodes need one of type "
                    "EC2_LINUX (delete it, then check again)",
                    provider_code="InvalidAccessEntryType",
                    operation="DescribeAccessEntry",
                )
            return "present"
        if not create:
            raise CloudError(
                f"{role_arn} has no EC2_LINUX access entry on {cluster}", operation="DescribeAccessEntry"
            )
        try:
            self._eks.create_access_entry(clusterName=cluster, principalArn=role_arn, type="EC2_LINUX")
        except (ClientError, BotoCoreError) as error:
            raise self._fail(
                error, f"creating the EC2_LINUX access entry of {role_arn} (eks:CreateAccessEntry)"
            ) from error
        return "created"

    def write_template(
        self, name: str, data: Mapping[str, Any], tags: Mapping[str, str], template_id: str = ""
    ) -> TemplateVersion:
        """Create the template `name` holding `data`, or add a version holding it (the template exists:
        `template_id` is known, or an earlier write created it and was not recorded)."""
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        try:
            if not template_id:
                try:
                    made = self._ec2.create_launch_template(
                        LaunchTemplateName=name,
                        LaunchTemplateData=dict(data),
                        TagSpecifications=[{"ResourceType": "launch-template", "Tags": tag_list}],
                    )["LaunchTemplate"]
                    return TemplateVersion(made["LaunchTemplateId"], name, int(made["LatestVersionNumber"]))
                except ClientError as error:
                    if "AlreadyExists" not in str(error.response.get("Error", {}).get("Code", "")):
                        raise
                found = self._ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
                template_id = found[0]["LaunchTemplateId"]
            version = self._ec2.create_launch_template_version(
                LaunchTemplateId=template_id, LaunchTemplateData=dict(data)
            )["LaunchTemplateVersion"]
            return TemplateVersion(template_id, name, int(version["VersionNumber"]))
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, f"writing the launch template {name}") from error

    def templates(self, tag: tuple[str, str]) -> list[str]:
        """Names of the launch templates carrying `tag`."""
        try:
            found = self._ec2.describe_launch_templates(
                Filters=[{"Name": f"tag:{tag[0]}", "Values": [tag[1]]}]
            )
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, "listing launch templates") from error
        return sorted(t["LaunchTemplateName"] for t in found["LaunchTemplates"])

    def delete_template(self, name: str) -> None:
        try:
            self._ec2.delete_launch_template(LaunchTemplateName=name)
        except ClientError as error:
            if "NotFound" in str(error.response.get("Error", {}).get("Code", "")):
                return
            raise self._fail(error, f"deleting the launch template {name}") from error
        except BotoCoreError as error:
            raise self._fail(error, f"deleting the launch template {name}") from error

    def retire_versions(self, template_id: str, keep: set[int]) -> list[int]:
        """Make the newest of `keep` the template's default (EC2 never deletes the default version) and
        delete every other version but those of `keep`; the numbers deleted."""
        try:
            self._ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(max(keep)))
            versions = [
                int(v["VersionNumber"])
                for page in self._ec2.get_paginator("describe_launch_template_versions").paginate(
                    LaunchTemplateId=template_id
                )
                for v in page["LaunchTemplateVersions"]
            ]
            old = sorted(str(n) for n in versions if n not in keep)
            deleted: list[int] = []
            for start in range(0, len(old), 200):  # at most 200 per call
                answer = self._ec2.delete_launch_template_versions(
                    LaunchTemplateId=template_id, Versions=old[start : start + 200]
                )
                deleted += [
                    int(v["VersionNumber"])
                    for v in answer.get("SuccessfullyDeletedLaunchTemplateVersions", [])
                ]
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, f"deleting old versions of the launch template {template_id}") from error
        return deleted

    def zones(self) -> list[str]:
        """The region's availability zones that are available (not Local or Wavelength Zones)."""
        try:
            found = self._ec2.describe_availability_zones(
                Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
            )["AvailabilityZones"]
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, "describing the region's availability zones") from error
        return sorted(z["ZoneName"] for z in found if z.get("State", "available") == "available")

    def queue_policy(self, queue_url: str) -> tuple[str, dict[str, Any] | None]:
        """The queue's ARN and its access policy (None when it has none)."""
        try:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["QueueArn", "Policy"]
            )["Attributes"]
        except (ClientError, BotoCoreError) as error:
            raise self._fail(error, f"reading the interruption queue {queue_url}") from error
        policy = attributes.get("Policy")
        return str(attributes.get("QueueArn", "")), json.loads(policy) if policy else None
