"""A nodeless cluster's node class: discovered in the customer's account, checked, and turned into
the launch templates every launch names.

- `node_class_refresh`: reads the cluster (version, endpoint, CA, service CIDR, subnets, security
  groups), the AMIs of its version, and the node role's EC2_LINUX access entry (created when missing,
  if the role may). What is missing becomes the node class's `problem`, which keeps the loop from
  launching (pods stay pending with it as the reason) instead of launching instances that never join.
- `node_class_templates`: the launch template of each kubelet shape a launch needs, written when
  missing or when what it holds changed (a new AMI, new subnets or groups): a new version, and the
  change is recorded as drift for the cluster page.
- `node_class_collect`: deletes the cluster's launch templates no shape uses any more.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clusters.cloud.aws_node_class import AwsNodeClasses, Subnet, TemplateVersion
from clusters.cloud.errors import CloudError
from clusters.cloud.nodeadm import ClusterJoin, KubeletShape, user_data
from clusters.models import CloudAccount, Cluster, NodeClass
from clusters.onboarding.aws import RoleAccessError, account_of, assume_role, endpoints
from clusters.onboarding.cloudformation import CLUSTER_TAG, MANAGED_TAG, STACK_NAME
from clusters.services.node_class_notices import node_class_notices
from tenants.actors import Actor
from tenants.audit import audit_record
from tenants.models import Organization

# Re-read the account this often (Karpenter re-reads its SSM parameters and subnets about as often).
REFRESH_EVERY = timedelta(minutes=10)
# A launch template no launch named for this long is deleted.
TEMPLATE_IDLE = timedelta(days=2)
METADATA_OPTIONS = {
    "HttpEndpoint": "enabled",
    "HttpTokens": "required",  # IMDSv2 only
    "HttpPutResponseHopLimit": 1,
    "HttpProtocolIpv6": "disabled",
    # Our tag keys contain "/", which instance tags in metadata refuse.
    "InstanceMetadataTags": "disabled",
}
ROOT_DEVICE = "/dev/xvda"
DISCOVERED_FIELDS = (
    "kubernetes_version",
    "endpoint",
    "certificate_authority",
    "service_cidr",
    "vpc_id",
    "subnets",
    "security_group_ids",
    "amis",
    "access_entry",
    "problem",
    "drift",
    "notices",
    "refreshed_at",
)


@dataclass(frozen=True)
class TemplateSpec:
    """One launch template a launch needs: the AMI flavour and the kubelet shape."""

    arch: str  # x86_64 or arm64
    variant: str  # standard, nvidia or neuron
    shape: KubeletShape
    volume_gib: int
    # Burstable types only: "standard" or "unlimited", set explicitly because EC2's default differs
    # by family (T2 standard, T3/T3a/T4g unlimited) and the planner sized the node for one of them.
    cpu_credits: str = ""

    @property
    def key(self) -> str:
        held: tuple[object, ...] = (self.shape, self.volume_gib)
        if self.cpu_credits:  # fixed-performance specs keep the keys (and templates) they had
            held = (*held, self.cpu_credits)
        digest = hashlib.sha256(repr(held).encode()).hexdigest()[:12]
        return f"{self.arch}-{self.variant}-{digest}"


# Instance families with AWS Inferentia or Trainium devices: their drivers and device plugin come with
# the EKS AL2023 Neuron AMI only (`.../amazon-linux-2023/x86_64/neuron/...`).
NEURON_FAMILIES = frozenset({"inf1", "inf2", "trn1", "trn1n", "trn2", "trn2n"})


def ami_variant(instance_type: str, *, gpus: int) -> str:
    """The EKS AL2023 AMI variant an instance type needs: neuron for Inferentia/Trainium, nvidia
    for NVIDIA GPUs, else standard."""
    if instance_type.split(".", 1)[0] in NEURON_FAMILIES:
        return "neuron"
    return "nvidia" if gpus else "standard"


def default_node_role(cluster: Cluster) -> tuple[str, str]:
    """The node role and instance profile of the account's onboarding stack: as its outputs name them
    (read from CloudFormation at verification), else the names the stack link's template gives them."""
    account = cluster.cloud_account
    outputs = (account.stack_outputs or {}) if account else {}
    name = f"NodelessNodeRole-{STACK_NAME}"
    account_id = account_of(account.role_arn) if account else ""
    return (
        str(outputs.get("NodeRoleArn") or f"arn:aws:iam::{account_id}:role/{name}"),
        str(outputs.get("NodeInstanceProfileName") or name),
    )


def fargate_pod_role(cluster: Cluster) -> str:
    """The pod execution role the onboarding stack creates (its `FargatePodExecutionRole`), which the
    Fargate profiles Nodeless creates name."""
    account = cluster.cloud_account
    account_id = account_of(account.role_arn) if account else ""
    return f"arn:aws:iam::{account_id}:role/NodelessFargatePodRole-{STACK_NAME}"


def node_class_of(cluster: Cluster) -> NodeClass:
    node_class, _ = NodeClass.objects.get_or_create(cluster=cluster)
    return node_class


_clients_lock = threading.Lock()
_clients: dict[tuple[Any, ...], AwsNodeClasses] = {}


def _aws(cluster: Cluster) -> AwsNodeClasses:
    account = cluster.cloud_account
    if account is None:
        raise CloudError(f"{cluster.name} has no cloud account")
    external_id = cluster.organization.external_id
    key = (os.getpid(), account.role_arn, external_id, cluster.region, endpoints().endpoint_url)
    with _clients_lock:
        known = _clients.get(key)
    if known is not None:
        return known
    session = assume_role(
        role_arn=account.role_arn,
        external_id=external_id,
        region=cluster.region,
        session_name="nodeless-nodeclass",
    )
    made = AwsNodeClasses(session, cluster.region, endpoints(), role_arn=account.role_arn)
    with _clients_lock:
        return _clients.setdefault(key, made)


def _discovery(node_class: NodeClass) -> tuple[str, str] | None:
    key, sep, value = node_class.discovery_tag.partition("=")
    return (key.strip(), value.strip()) if sep and key.strip() else None


def _zonal(subnets: list[Subnet]) -> dict[str, str]:
    """Per zone, the subnet with the most free addresses (a full subnet is no subnet)."""
    best: dict[str, Subnet] = {}
    for subnet in subnets:
        if subnet.free_addresses <= 0:
            continue
        if subnet.zone not in best or subnet.free_addresses > best[subnet.zone].free_addresses:
            best[subnet.zone] = subnet
    return {zone: subnet.subnet_id for zone, subnet in sorted(best.items())}


def node_class_refresh(cluster: Cluster, *, create_access_entry: bool = True) -> NodeClass:
    """Discover and check what the cluster's nodes need; record it, with the problem if any."""
    node_class = node_class_of(cluster)
    problems: list[str] = []
    try:
        _discover(cluster, node_class, problems, create_access_entry=create_access_entry)
        node_class.notices = node_class_notices(_aws(cluster), cluster, node_class)
    except (CloudError, RoleAccessError) as error:
        problems.append(getattr(error, "message", str(error)))
    node_class.problem = "; ".join(problems)
    node_class.refreshed_at = timezone.now()
    # Not launch_templates: launches write those under the row's lock meanwhile.
    node_class.save(update_fields=DISCOVERED_FIELDS)
    if not problems:
        _collect_idle(cluster, node_class)
    return node_class


def _collect_idle(cluster: Cluster, node_class: NodeClass) -> None:
    """Templates no launch named for TEMPLATE_IDLE (the policy's labels or taints changed, a type
    left the catalog) and templates of the cluster we hold no record of are deleted."""
    cutoff = (timezone.now() - TEMPLATE_IDLE).date().isoformat()
    keep = {
        key for key, entry in node_class.launch_templates.items() if str(entry.get("used_on", "")) >= cutoff
    }
    with contextlib.suppress(CloudError):  # collected at the next refresh; launches do not need it
        node_class_collect(cluster, keep=keep)


def _discover(
    cluster: Cluster, node_class: NodeClass, problems: list[str], *, create_access_entry: bool
) -> None:
    aws = _aws(cluster)
    facts = aws.cluster(cluster.eks_cluster_name)
    tag = _discovery(node_class)
    subnets = _zonal(aws.subnets(facts.subnet_ids, tag))
    groups = aws.security_groups(tag) or [g for g in (facts.cluster_security_group_id,) if g]
    amis = aws.amis(facts.version) if facts.version else {}
    rolled = sorted(k for k, v in amis.items() if node_class.amis.get(k) not in (None, v))
    if rolled:
        node_class.drift = (
            f"New EKS AMIs for Kubernetes {facts.version} ({', '.join(rolled)}) on "
            f"{timezone.now():%Y-%m-%d %H:%M} UTC: launch templates roll forward; running nodes keep their AMI"
        )
    node_class.kubernetes_version, node_class.endpoint = facts.version, facts.endpoint
    node_class.certificate_authority, node_class.service_cidr = (
        facts.certificate_authority,
        facts.service_cidr,
    )
    node_class.vpc_id, node_class.subnets, node_class.security_group_ids = facts.vpc_id, subnets, groups
    node_class.amis = amis
    if not subnets:
        problems.append(
            "no usable subnet: the cluster's subnets (and those with the discovery tag) have no free address"
        )
    if not groups:
        problems.append(
            "no security group: the cluster has no cluster security group and none has the discovery tag"
        )
    if not amis:
        problems.append(
            f"no EKS-optimized AL2023 AMI is published for Kubernetes {facts.version or '(unknown)'}"
        )
    if not (facts.endpoint and facts.certificate_authority and facts.service_cidr):
        problems.append("DescribeCluster gave no endpoint, CA or service CIDR: nodes could not join")
    if facts.authentication_mode == "CONFIG_MAP":
        problems.append(
            "the cluster's authentication mode is CONFIG_MAP: switch it to API_AND_CONFIG_MAP so the node role's "
            "access entry can authorize nodes"
        )
        return
    role_arn = node_class.node_role_arn or default_node_role(cluster)[0]
    try:
        node_class.access_entry = aws.node_access_entry(
            cluster.eks_cluster_name, role_arn, create=create_access_entry
        )
    except CloudError as error:
        node_class.access_entry = ""
        problems.append(f"nodes cannot authenticate: {error.message}")


def _template_data(cluster: Cluster, node_class: NodeClass, spec: TemplateSpec) -> dict[str, Any]:
    ami = node_class.amis.get(f"{spec.arch}/{spec.variant}")
    if not ami:
        raise CloudError(
            f"no EKS-optimized AL2023 {spec.arch} {spec.variant} AMI for Kubernetes {node_class.kubernetes_version}"
        )
    join = ClusterJoin(
        cluster.eks_cluster_name,
        node_class.endpoint,
        node_class.certificate_authority,
        node_class.service_cidr,
    )
    return {
        "ImageId": ami,
        "IamInstanceProfile": {"Name": node_class.instance_profile or default_node_role(cluster)[1]},
        "SecurityGroupIds": list(node_class.security_group_ids),
        "MetadataOptions": dict(METADATA_OPTIONS),
        "BlockDeviceMappings": [
            {
                "DeviceName": ROOT_DEVICE,
                "Ebs": {
                    "VolumeSize": node_class.root_volume_gib or spec.volume_gib,
                    "VolumeType": "gp3",
                    "Encrypted": True,
                    "DeleteOnTermination": True,
                },
            }
        ],
        **({"CreditSpecification": {"CpuCredits": spec.cpu_credits}} if spec.cpu_credits else {}),
        "UserData": user_data(join, spec.shape),
        "TagSpecifications": [
            {
                "ResourceType": "network-interface",
                "Tags": [{"Key": k, "Value": v} for k, v in _tags(cluster).items()],
            }
        ],
    }


def _tags(cluster: Cluster) -> dict[str, str]:
    return {
        f"kubernetes.io/cluster/{cluster.eks_cluster_name}": "owned",
        MANAGED_TAG: "nodeless",
        CLUSTER_TAG: str(cluster.pk),
    }


def _template_name(cluster: Cluster, key: str) -> str:
    return f"nodeless-{str(cluster.pk)[:13]}-{key}"


def node_class_templates(
    cluster: Cluster, *, specs: Mapping[str, TemplateSpec]
) -> dict[str, TemplateVersion]:
    """The launch template version of each spec (by key), written where missing or out of date."""
    today = timezone.now().date().isoformat()
    # Nearly every launch finds its templates written and named today already: it reads them without
    # the row's lock, which launches running side by side would otherwise queue on, one at a time.
    current = _current_templates(cluster, NodeClass.objects.get(cluster=cluster), specs, today)
    if current is not None:
        return current
    with transaction.atomic():
        node_class = NodeClass.objects.select_for_update().get(cluster=cluster)
        known = dict(node_class.launch_templates)
        found: dict[str, TemplateVersion] = {}
        changed = False
        for key, spec in specs.items():
            data = _template_data(cluster, node_class, spec)
            digest = _digest(data)
            held = known.get(key) or {}
            if held.get("digest") != digest:
                written = _aws(cluster).write_template(
                    _template_name(cluster, key), data, _tags(cluster), str(held.get("id", ""))
                )
                if held.get("version") and written.version > int(held["version"]):
                    # The version before stays (a fleet request may name it right now); older ones go.
                    with contextlib.suppress(CloudError):  # retried at the next new version
                        _aws(cluster).retire_versions(
                            written.template_id, {written.version, int(held["version"])}
                        )
                known[key] = {
                    "id": written.template_id,
                    "name": written.name,
                    "version": written.version,
                    "digest": digest,
                    "ami": data["ImageId"],
                    "arch": spec.arch,
                    "variant": spec.variant,
                }
                changed = True
            entry = known[key]
            if entry.get("used_on") != today:
                entry["used_on"], changed = today, True
            found[key] = TemplateVersion(str(entry["id"]), str(entry["name"]), int(entry["version"]))
        if changed:
            node_class.launch_templates = known
            node_class.save(update_fields=["launch_templates"])
    return found


def _digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _current_templates(
    cluster: Cluster, node_class: NodeClass, specs: Mapping[str, TemplateSpec], today: str
) -> dict[str, TemplateVersion] | None:
    """The template versions of `specs` when each is written as the spec says and marked used today
    (nothing to write); None otherwise. Entries only change under the row's lock, each whole."""
    found: dict[str, TemplateVersion] = {}
    for key, spec in specs.items():
        entry = node_class.launch_templates.get(key) or {}
        if entry.get("used_on") != today or entry.get("digest") != _digest(
            _template_data(cluster, node_class, spec)
        ):
            return None
        found[key] = TemplateVersion(str(entry["id"]), str(entry["name"]), int(entry["version"]))
    return found


def node_class_collect(cluster: Cluster, *, keep: set[str]) -> list[str]:
    """Delete the cluster's launch templates but those of `keep` (and any a launch wrote or named
    today, which may be in a fleet request right now); forget the deleted ones."""
    aws = _aws(cluster)
    today = timezone.now().date().isoformat()
    with transaction.atomic():
        locked = NodeClass.objects.select_for_update().get(cluster=cluster)
        kept = {k: v for k, v in locked.launch_templates.items() if k in keep or v.get("used_on") == today}
        names = {_template_name(cluster, key) for key in kept}
        deleted = [name for name in aws.templates((CLUSTER_TAG, str(cluster.pk))) if name not in names]
        for name in deleted:
            aws.delete_template(name)
        if len(kept) != len(locked.launch_templates):
            locked.launch_templates = kept
            locked.save(update_fields=["launch_templates"])
    return deleted


# The EKS AL2023 AMIs' root snapshot is 20 GiB (EC2 refuses a smaller volume from it); gp3 holds 16 TiB.
ROOT_VOLUME_GIB = (20, 16384)


class _Keep:
    """The default of an optional update argument: leave the field as it is."""


KEEP = _Keep()


def node_class_release(*, account_id: str, cluster_id: str, region: str) -> list[str]:
    """Delete the launch templates of a cluster that left nodeless mode or was removed (they carry its
    id as a tag); forget them on its node class. Nothing when the cluster is nodeless (again)."""
    cluster = Cluster.objects.select_related("organization", "cloud_account").filter(pk=cluster_id).first()
    if cluster is not None and cluster.is_nodeless:
        return []
    account = CloudAccount.objects.select_related("organization").filter(pk=account_id).first()
    if account is None:
        return []  # the account is gone, and our access to it with it
    session = assume_role(
        role_arn=account.role_arn,
        external_id=account.organization.external_id,
        region=region,
        session_name="nodeless-nodeclass",
    )
    aws = AwsNodeClasses(session, region, endpoints(), role_arn=account.role_arn)
    deleted = aws.templates((CLUSTER_TAG, str(cluster_id)))
    for name in deleted:
        aws.delete_template(name)
    NodeClass.objects.filter(cluster_id=cluster_id).update(launch_templates={})
    return deleted


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_PROFILE = re.compile(r"^[\w+=,.@-]{1,128}$")
_TAG_KEY = re.compile(r"^[\w .:/=+@-]{1,128}$")


def _volume_size(value: int | str | None) -> int | str | None:
    """A size typed in a form ("" is none) or given by the API; text that is no number stays text."""
    if isinstance(value, str):
        text = value.strip()
        return None if not text else int(text) if text.isdigit() else text
    return value


def node_class_update(
    organization: Organization,
    *,
    cluster: Cluster,
    actor: Actor,
    node_role_arn: str | None = None,
    instance_profile: str | None = None,
    discovery_tag: str | None = None,
    root_volume_gib: int | str | None | _Keep = KEEP,
) -> NodeClass:
    """Change what the cluster's nodes are made of (every field checked, every error reported at
    once); a worker checks the account again at once. `root_volume_gib=None` sizes root volumes per
    instance type again; a new size is a new launch template version at the next launch."""
    assert cluster.organization_id == organization.pk
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    if node_role_arn is not None:
        changes["node_role_arn"] = node_role_arn.strip()
        if changes["node_role_arn"] and not _ROLE_ARN.match(changes["node_role_arn"]):
            errors["node_role_arn"] = "An IAM role ARN, e.g. arn:aws:iam::123456789012:role/NodelessNodeRole."
    if instance_profile is not None:
        changes["instance_profile"] = instance_profile.strip()
        if changes["instance_profile"] and not _PROFILE.match(changes["instance_profile"]):
            errors["instance_profile"] = "An instance profile name (letters, digits and +=,.@_-)."
    if discovery_tag is not None:
        changes["discovery_tag"] = discovery_tag.strip()
        key, sep, value = changes["discovery_tag"].partition("=")
        if changes["discovery_tag"] and not (sep and _TAG_KEY.match(key.strip()) and value.strip()):
            errors["discovery_tag"] = "A tag as key=value, e.g. karpenter.sh/discovery=prod."
    if not isinstance(root_volume_gib, _Keep):
        low, high = ROOT_VOLUME_GIB
        size = _volume_size(root_volume_gib)
        changes["root_volume_gib"] = size if isinstance(size, int) else None
        if size is not None and not (isinstance(size, int) and low <= size <= high):
            errors["root_volume_gib"] = (
                f"A root volume of {low} to {high} GiB (the EKS AMI's snapshot is {low} GiB), or empty to size it "
                "per instance type."
            )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        node_class = NodeClass.objects.select_for_update().get(pk=node_class_of(cluster).pk)
        for field_name, value in changes.items():
            setattr(node_class, field_name, value)
        node_class.refreshed_at = None  # the next check or pass looks again
        node_class.save(update_fields=[*changes, "refreshed_at"])
        audit_record(organization, actor=actor, action="cluster.node_class", target=cluster, metadata=changes)
    return node_class
