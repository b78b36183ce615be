"""The simulated AWS cloud: moto + the gateway + accounts, roles, queues and EKS clusters.

    cloud = SimulatedCloud(CloudConfig(), clock)
    cloud.start()
    cluster = cloud.add_cluster("sim-a")  # EKS cluster, interruption queue, launch template
    ...                                    # the product: boto3 with endpoint_url=cloud.endpoint_url
    cloud.stop()

Accounts: the control plane acts from the vendor account (any access key moto does not know
maps to it) and assumes `role_arn` in the customer account with `external_id`; that role's
trust policy names the vendor account and the external ID, and its permissions policy is
Karpenter's controller policy (minus resource scoping, which the simulator does not evaluate).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.catalog import AwsCatalog, load_catalog
from simulator.clock import Clock, ScaledClock
from simulator.cloud.admin import AdminClients
from simulator.cloud.eks_access import EksAccess
from simulator.cloud.fleet import Offering
from simulator.cloud.gateway import CloudGateway
from simulator.cloud.interruptions import (
    REBALANCE_RECOMMENDATION,
    SPOT_WARNING,
    InjectedInterruption,
    InterruptionInjector,
)
from simulator.cloud.moto_server import acquire_shared_moto, release_shared_moto
from simulator.cloud.retention import SWEEP_EVERY_SECONDS, TerminatedInstances
from simulator.cloud.sts_gate import AssumeRoleRecord, StsGate
from simulator.cloud.timers import Timers
from simulator.controllers.cloud_nodes import CloudInstance

# The control plane's own account (the product's NODELESS_AWS_ACCOUNT_ID default). The gateway
# treats every key it did not issue as a principal of this account.
VENDOR_ACCOUNT_ID = "111122223333"
VENDOR_ACCESS_KEY_ID = "AKIANODELESSVENDOR01"
VENDOR_SECRET_ACCESS_KEY = "simulated-vendor-secret"
# moto launches any image id; a fixed one avoids loading moto's AMI catalogue (seconds per account).
NODE_IMAGE_ID = "ami-0a0b0c0d0e0f10203"
CONTROLLER_ACTIONS = (
    "ec2:CreateFleet",
    "ec2:RunInstances",
    "ec2:CreateTags",
    "ec2:TerminateInstances",
    "ec2:CreateLaunchTemplate",
    "ec2:DeleteLaunchTemplate",
    "ec2:Describe*",
    "pricing:GetProducts",
    "pricing:DescribeServices",
    "pricing:GetAttributeValues",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "eks:DescribeCluster",
    "eks:ListClusters",
    "iam:PassRole",
    "ssm:GetParameter",
)


@dataclass(frozen=True)
class CloudConfig:
    region: str = "us-east-1"
    vendor_account_id: str = VENDOR_ACCOUNT_ID
    customer_account_id: str = ""  # random per cloud when empty, so clouds in a process don't mix
    external_id: str = ""  # random when empty
    role_name: str = "NodelessControlPlane"
    controller_actions: tuple[str, ...] = CONTROLLER_ACTIONS
    seed: int | None = None


@dataclass(frozen=True)
class CloudCluster:
    """What the cloud knows about a cloud-linked simulated cluster."""

    name: str
    region: str
    account_id: str
    tag_key: str
    tag_value: str
    interruption_queue_url: str
    launch_template_name: str
    eks_arn: str


def trust_policy(vendor_account_id: str, external_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{vendor_account_id}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def allow_policy(actions: tuple[str, ...]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }


class Ec2InstanceSource:
    """The instances tagged for one cluster, read from moto's in-process EC2 backend.

    The simulated cloud is moto in this process, so the node controller reads its backend rather
    than calling DescribeInstances over HTTP: serializing every instance of the cluster to XML and
    parsing it back on each launch made the simulator, not the control plane under test, the slowest
    part of every provisioning benchmark (and grew with the square of the launches)."""

    def __init__(self, account_id: str, region: str, tag_key: str) -> None:
        self.account_id = account_id
        self.region = region
        self.tag_key = tag_key

    def instances(self) -> list[CloudInstance]:
        from moto.ec2.models import ec2_backends  # imported late like the rest of moto (slow to load)

        backend: Any = ec2_backends[self.account_id][self.region]
        tags_by_resource: dict[str, dict[str, str]] = backend.tags
        found = []
        for reservation in list(backend.reservations.values()):
            for item in list(reservation.instances):
                tags = dict(tags_by_resource.get(item.id) or {})
                if self.tag_key not in tags:
                    continue
                found.append(
                    CloudInstance(
                        instance_id=item.id,
                        instance_type=item.instance_type,
                        zone=item.placement.zone,
                        state=item.state,
                        capacity_type="spot" if item.lifecycle == "spot" else "on-demand",
                        private_ip=item.private_ip or "",
                        private_dns_name=item.private_dns_name,
                        tags=tags,
                    )
                )
        return found


class SimulatedCloud:
    def __init__(
        self, config: CloudConfig | None = None, clock: Clock | None = None, catalog: AwsCatalog | None = None
    ) -> None:
        self.config = config or CloudConfig()
        self.clock = clock or ScaledClock()
        self.catalog = catalog or load_catalog()
        rng = random.Random(self.config.seed) if self.config.seed is not None else random.SystemRandom()
        self.region = self.config.region
        self.vendor_account_id = self.config.vendor_account_id
        self.customer_account_id = self.config.customer_account_id or str(rng.randrange(10**11, 10**12))
        self.external_id = self.config.external_id or f"nodeless-{rng.getrandbits(64):016x}"
        self.role_arn = f"arn:aws:iam::{self.customer_account_id}:role/{self.config.role_name}"
        self.clusters: dict[str, CloudCluster] = {}
        self.timers = Timers(self.clock)
        self.eks_access = EksAccess()
        self._gateway: CloudGateway | None = None
        self._admin: AdminClients | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        moto = acquire_shared_moto()
        self.moto_url = moto.url
        self._admin = AdminClients(moto.url, self.region)
        sts = StsGate(self._admin, self.clock, self.vendor_account_id)
        self._gateway = CloudGateway(
            moto_url=moto.url,
            admin=self._admin,
            catalog=self.catalog,
            clock=self.clock,
            sts=sts,
            eks_access=self.eks_access,
        )
        self._gateway.start()
        self.timers.start()
        self.interruptions = InterruptionInjector(self.clock, self.timers, self._gateway.notify)
        self.terminated_instances = TerminatedInstances(self._places)
        self.timers.call_at(self.clock.now() + SWEEP_EVERY_SECONDS, self._sweep_terminated)
        self.create_role(
            self.config.role_name,
            trust_policy(self.vendor_account_id, self.external_id),
            self.config.controller_actions,
        )

    def _places(self) -> list[tuple[str, str]]:
        return [(self.customer_account_id, self.region)] + [
            (cluster.account_id, cluster.region) for cluster in self.clusters.values()
        ]

    def _sweep_terminated(self) -> None:
        try:
            self.terminated_instances.sweep(self.clock.now())
        finally:
            self.timers.call_at(self.clock.now() + SWEEP_EVERY_SECONDS, self._sweep_terminated)

    def stop(self) -> None:
        self.timers.stop()
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
            release_shared_moto()

    def __enter__(self) -> SimulatedCloud:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def gateway(self) -> CloudGateway:
        if self._gateway is None:
            raise RuntimeError("the simulated cloud is not started")
        return self._gateway

    @property
    def admin(self) -> AdminClients:
        if self._admin is None:
            raise RuntimeError("the simulated cloud is not started")
        return self._admin

    @property
    def endpoint_url(self) -> str:
        """The one `endpoint_url` for every boto3 client of the product (EC2, STS, EKS, ...)."""
        return self.gateway.url

    # --- setup -------------------------------------------------------------------------------

    def create_role(
        self, name: str, trust: dict[str, Any], actions: tuple[str, ...], account_id: str | None = None
    ) -> str:
        """A role in the customer account (by default) with an inline policy allowing `actions`."""
        iam = self.admin.client("iam", account_id or self.customer_account_id)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        if actions:
            iam.put_role_policy(
                RoleName=name, PolicyName=f"{name}Policy", PolicyDocument=json.dumps(allow_policy(actions))
            )
        self.gateway.enforcer.invalidate()
        arn: str = role["Arn"]
        return arn

    def add_cluster(self, name: str, region: str | None = None) -> CloudCluster:
        """Create the cloud side of a nodeless cluster: an EKS cluster in moto (same name and
        region), its interruption queue and a launch template for its nodes."""
        region = region or self.region
        account = self.customer_account_id
        eks = self.admin.client("eks", account, region)
        eks_arn = eks.create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::{account}:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": []},
            accessConfig={"authenticationMode": "API"},
        )["cluster"]["arn"]
        queue_url = self.admin.client("sqs", account, region).create_queue(
            QueueName=f"nodeless-{name}-interruptions", Attributes={"MessageRetentionPeriod": "300"}
        )["QueueUrl"]
        ec2 = self.admin.client("ec2", account, region)
        template_name = f"nodeless-{name}"
        ec2.create_launch_template(
            LaunchTemplateName=template_name,
            LaunchTemplateData={
                "ImageId": NODE_IMAGE_ID,
                "MetadataOptions": {"InstanceMetadataTags": "enabled"},
            },
        )
        cluster = CloudCluster(
            name=name,
            region=region,
            account_id=account,
            tag_key=f"kubernetes.io/cluster/{name}",
            tag_value="owned",
            interruption_queue_url=queue_url,
            launch_template_name=template_name,
            eks_arn=eks_arn,
        )
        self.clusters[name] = cluster
        return cluster

    def instance_source(self, cluster: CloudCluster) -> Ec2InstanceSource:
        return Ec2InstanceSource(cluster.account_id, cluster.region, cluster.tag_key)

    def on_instances_changed(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever instances are launched or terminated; returns an unsubscriber."""
        self.gateway.listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.gateway.listeners:
                self.gateway.listeners.remove(listener)

        return unsubscribe

    # --- faults and observations for tests ----------------------------------------------------

    def exhaust_capacity(self, instance_type: str, zone: str, capacity_type: str = "on-demand") -> None:
        """CreateFleet reports InsufficientInstanceCapacity for this offering until restored."""
        self.gateway.capacity.exhaust(Offering(instance_type, zone, capacity_type))

    def restore_capacity(
        self, instance_type: str | None = None, zone: str = "", capacity_type: str = "on-demand"
    ) -> None:
        self.gateway.capacity.restore(Offering(instance_type, zone, capacity_type) if instance_type else None)

    def throttle(self, action: str, times: int = 1) -> None:
        """The next `times` calls of `action` (e.g. `ec2:CreateFleet`, or `*`) are throttled."""
        self.gateway.throttles.throttle(action, times)

    def assume_role_records(self) -> list[AssumeRoleRecord]:
        return self.gateway.sts.records()

    def _cluster_of(self, instance_id: str) -> CloudCluster:
        for cluster in self.clusters.values():
            ec2 = self.admin.client("ec2", cluster.account_id, cluster.region)
            reservations = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [instance_id]}])[
                "Reservations"
            ]
            for reservation in reservations:
                tags = {t["Key"] for i in reservation["Instances"] for t in i.get("Tags") or ()}
                if cluster.tag_key in tags:
                    return cluster
        raise KeyError(f"instance {instance_id} belongs to no simulated cluster")

    def interrupt(self, instance_id: str, *, rebalance: bool = False) -> InjectedInterruption:
        """Send a spot interruption warning (terminating the instance two simulated minutes
        later) or a rebalance recommendation to the instance's cluster queue."""
        cluster = self._cluster_of(instance_id)
        return self.interruptions.inject(
            sqs=self.admin.client("sqs", cluster.account_id, cluster.region),
            ec2=self.admin.client("ec2", cluster.account_id, cluster.region),
            queue_url=cluster.interruption_queue_url,
            account=cluster.account_id,
            region=cluster.region,
            instance_id=instance_id,
            detail_type=REBALANCE_RECOMMENDATION if rebalance else SPOT_WARNING,
        )

    def vendor_credentials(self) -> dict[str, str]:
        """boto3 keyword arguments for the control plane's own (vendor account) credentials."""
        return {"aws_access_key_id": VENDOR_ACCESS_KEY_ID, "aws_secret_access_key": VENDOR_SECRET_ACCESS_KEY}

    def customer_admin_credentials(self) -> dict[str, str]:
        """boto3 keyword arguments acting as the customer account's administrator (what a person
        running the onboarding CloudFormation stack has); they work against `endpoint_url`."""
        credentials = self.admin.credentials(self.customer_account_id)
        return {
            "aws_access_key_id": str(credentials.access_key),
            "aws_secret_access_key": str(credentials.secret_key),
            "aws_session_token": credentials.token or "",
        }
