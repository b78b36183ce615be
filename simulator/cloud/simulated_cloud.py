"""The simulated AWS cloud: moto + the gateway + accounts, roles, queues and EKS clusters.

    cloud = SimulatedCloud(CloudConfig(), clock)
    cloud.start()
    cluster = cloud.add_cluster("sim-a")  # VPC, subnets, cluster SG, EKS cluster, interruption queue
    ...                                    # the product: boto3 with endpoint_url=cloud.endpoint_url
    cloud.stop()

Accounts: the control plane acts from the vendor account (any access key moto does not know
maps to it) and assumes `role_arn` in the customer account with `external_id`; that role's
trust policy names the vendor account and the external ID, and its permissions policy is
Karpenter's controller policy (minus resource scoping, which the simulator does not evaluate).
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.catalog import AwsCatalog, load_catalog
from simulator.clock import Clock, ScaledClock
from simulator.cloud.admin import AdminClients
from simulator.cloud.console import CloudConsole
from simulator.cloud.eks_access import EksAccess
from simulator.cloud.eks_fargate import EksFargate
from simulator.cloud.eks_world import (
    CLUSTER_VERSION,
    SERVICE_CIDR,
    AmiReleases,
    ClusterNetwork,
    create_network,
    set_vpc_config,
)
from simulator.cloud.eventbridge import allow_eventbridge, route_events_to
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
from simulator.controllers.nodeadm import ExpectedCluster, JoinRefused, KubeletSettings, kubelet_settings

# The control plane's own account (the product's NODELESS_AWS_ACCOUNT_ID default). The gateway
# treats every key it did not issue as a principal of this account.
VENDOR_ACCOUNT_ID = "111122223333"
VENDOR_ACCESS_KEY_ID = "AKIANODELESSVENDOR01"
VENDOR_SECRET_ACCESS_KEY = "simulated-vendor-secret"
CONTROLLER_ACTIONS = (
    "ec2:CreateFleet",
    "ec2:RunInstances",
    "ec2:CreateTags",
    "ec2:TerminateInstances",
    "ec2:CreateLaunchTemplate",
    "ec2:DeleteLaunchTemplate",
    "ec2:CreateLaunchTemplateVersion",
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
    "eks:DescribeAccessEntry",
    "eks:CreateAccessEntry",
    "eks:CreateFargateProfile",
    "eks:DeleteFargateProfile",
    "eks:DescribeFargateProfile",
    "eks:ListFargateProfiles",
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
    eks_arn: str
    network: ClusterNetwork


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


def create_node_role(iam: Any, name: str) -> tuple[str, str]:
    """The node role (trusting ec2.amazonaws.com) and its instance profile, named `name`; idempotent."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    existing = [r for r in iam.list_roles()["Roles"] if r["RoleName"] == name]
    if existing:
        return str(existing[0]["Arn"]), name
    arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return arn, name


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
        profiles: dict[str, Any] = dict(backend.iam_instance_profile_associations)
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
                        user_data=_user_data(item.user_data),
                        role_arn=_role_of(profiles.get(item.id)),
                        image_id=item.image_id,
                        vpc_id=getattr(item, "vpc_id", "") or "",
                        security_group_ids=tuple(group.id for group in item.security_groups),
                    )
                )
        return found


def _user_data(value: Any) -> str:
    """moto keeps user data as given (base64 text, a Base64EncodedString, or a list of those)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return ""
    if hasattr(value, "as_bytes"):
        return str(value.as_bytes().decode())
    return value.decode() if isinstance(value, bytes) else str(value)


def _role_of(association: Any) -> str:
    profile = getattr(association, "iam_instance_profile", None)
    roles = getattr(profile, "roles", None) or []
    return str(roles[0].arn) if roles else ""


class EksNodeGate:
    """What decides whether an instance's kubelet joins an EKS cluster: nodeadm accepts its user data
    (a NodeConfig naming this cluster's name, endpoint, CA and service CIDR, as DescribeCluster
    reports them), it runs an EKS-optimized AMI built for its architecture, it sits in the cluster's
    VPC, and EKS authenticates its role (an EC2_LINUX access entry; otherwise the kubelet gets 401
    Unauthorized)."""

    def __init__(self, cloud: SimulatedCloud, cluster: CloudCluster) -> None:
        self.cloud = cloud
        self.cluster = cluster

    def _expected(self) -> ExpectedCluster:
        from moto.eks.models import eks_backends

        described: Any = eks_backends[self.cluster.account_id][self.cluster.region].clusters[
            self.cluster.name
        ]
        return ExpectedCluster(
            name=self.cluster.name,
            endpoint=str(described.endpoint),
            certificate_authority=str(described.certificate_authority["data"]),
            cidr=str(described.kubernetes_network_config.get("serviceIpv4Cidr", SERVICE_CIDR)),
        )

    def admit(self, instance: CloudInstance) -> KubeletSettings:
        image = self.cloud.amis.describe(instance.image_id)
        if image is None:
            raise JoinRefused(f"{instance.image_id} is not an EKS-optimized AMI: nothing runs nodeadm")
        arch = self.cloud.catalog.instance_type(instance.instance_type).arch
        if not arch.startswith(image[1]):
            raise JoinRefused(
                f"{instance.image_id} is built for {image[1]}; {instance.instance_type} is {arch}"
            )
        if instance.vpc_id != self.cluster.network.vpc_id:
            raise JoinRefused(f"the instance is in {instance.vpc_id or 'no VPC'}, not the cluster's VPC")
        if not instance.user_data:
            raise JoinRefused("the instance has no user data: nodeadm has no NodeConfig")
        settings = kubelet_settings(instance.user_data, self._expected())
        if not instance.role_arn:
            raise JoinRefused("the instance has no instance profile: the kubelet has no credentials")
        if not self.cloud.eks_access.node_entry(self.cluster.name, instance.role_arn):
            raise JoinRefused(f"Unauthorized: {instance.role_arn} has no EC2_LINUX access entry")
        drivers = {"nvidia": {"nvidia.com/gpu"}, "neuron": {"aws.amazon.com/neuron"}}.get(image[2], set())
        return dataclasses.replace(settings, accelerators=frozenset(drivers))


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
        self.amis = AmiReleases()
        self.eks_fargate = EksFargate(
            self.clock,
            self.timers,
            lambda account, region: (
                self.admin.client("ec2", account, region),
                self.admin.client("iam", account),
            ),
        )
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
            amis=self.amis,
            eks_fargate=self.eks_fargate,
        )
        self._gateway.console = CloudConsole(
            self._gateway.stacks, self.customer_account_id, self.region
        ).handle
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
        self,
        name: str,
        trust: dict[str, Any],
        actions: tuple[str, ...],
        account_id: str | None = None,
        document: dict[str, Any] | None = None,
    ) -> str:
        """A role in the customer account (by default) with an inline policy: `document`, else one
        allowing `actions` on every resource."""
        iam = self.admin.client("iam", account_id or self.customer_account_id)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        policy = document if document is not None else (allow_policy(actions) if actions else None)
        if policy is not None:
            iam.put_role_policy(RoleName=name, PolicyName=f"{name}Policy", PolicyDocument=json.dumps(policy))
        self.gateway.enforcer.invalidate()
        arn: str = role["Arn"]
        return arn

    def add_cluster(
        self, name: str, region: str | None = None, zones: list[str] | None = None
    ) -> CloudCluster:
        """Create what a customer account with an EKS cluster holds: a VPC with a subnet in each of
        `zones` (default: every zone of the region), the cluster security group, the EKS cluster
        (same name and region) and its interruption queue with the queue policy and EventBridge rules the
        onboarding stack creates. No launch template, no node role."""
        region = region or self.region
        account = self.customer_account_id
        ec2 = self.admin.client("ec2", account, region)
        network = create_network(ec2, name, zones if zones is not None else self.catalog.zones(region))
        eks = self.admin.client("eks", account, region)
        eks_arn = eks.create_cluster(
            name=name,
            version=CLUSTER_VERSION,
            roleArn=f"arn:aws:iam::{account}:role/eks-cluster",
            resourcesVpcConfig={"subnetIds": list(network.subnets.values())},
            accessConfig={"authenticationMode": "API"},
        )["cluster"]["arn"]
        set_vpc_config(account, region, name, network)
        self.eks_fargate.register(name, account, region, network)
        sqs = self.admin.client("sqs", account, region)
        queue_url = sqs.create_queue(
            QueueName=f"nodeless-{name}-interruptions", Attributes={"MessageRetentionPeriod": "300"}
        )["QueueUrl"]
        # The customer's onboarding stack: the queue policy and the EventBridge rules feeding it.
        allow_eventbridge(sqs, queue_url)
        route_events_to(self.admin.client("events", account, region), sqs, queue_url, prefix=name)
        cluster = CloudCluster(
            name=name,
            region=region,
            account_id=account,
            tag_key=f"kubernetes.io/cluster/{name}",
            tag_value="owned",
            interruption_queue_url=queue_url,
            eks_arn=eks_arn,
            network=network,
        )
        self.clusters[name] = cluster
        return cluster

    def instance_source(self, cluster: CloudCluster) -> Ec2InstanceSource:
        return Ec2InstanceSource(cluster.account_id, cluster.region, cluster.tag_key)

    def node_gate(self, cluster: CloudCluster) -> EksNodeGate:
        return EksNodeGate(self, cluster)

    def create_node_role(self, name: str, account_id: str | None = None) -> tuple[str, str]:
        """What the onboarding stack's NodeRole and NodeInstanceProfile are: a role EC2 may assume
        and an instance profile (same name) holding it. Returns (role ARN, instance profile name)."""
        iam = self.admin.client("iam", account_id or self.customer_account_id)
        return create_node_role(iam, name)

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
        later) or a rebalance recommendation through the account's EventBridge rules."""
        cluster = self._cluster_of(instance_id)
        return self.interruptions.inject(
            sqs=self.admin.client("sqs", cluster.account_id, cluster.region),
            ec2=self.admin.client("ec2", cluster.account_id, cluster.region),
            events=self.admin.client("events", cluster.account_id, cluster.region),
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
