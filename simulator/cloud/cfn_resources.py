"""The resource types the simulated CloudFormation creates, each with what `Ref` and `Fn::GetAtt`
return (per the AWS resource type reference) and how a rollback or DeleteStack removes it.

Resources are created in moto with the account administrator's clients (CloudFormation acts with
the caller's rights; the stack's caller is the account's administrator in the simulation), except
EKS access entries, which the gateway serves itself. A type not listed here fails its resource
with `CREATE_FAILED` and rolls the stack back, as an unsupported or failing resource would.
"""

from __future__ import annotations

import contextlib
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from simulator.cloud.eks_access import EksAccess
from simulator.cloud.protocol import AwsError


class ResourceFailed(Exception):
    """A resource could not be created: the reason shown on its CREATE_FAILED event."""


@dataclass(frozen=True)
class Created:
    ref: Any  # what Ref returns; also the physical resource id
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Target:
    """Where a stack creates its resources."""

    account_id: str
    region: str
    stack_name: str
    client: Callable[[str], Any]  # service -> boto3 client of the account and region
    eks_access: EksAccess


def generated_name(target: Target, logical_id: str, limit: int = 64) -> str:
    """`<stack>-<logical id>-<random suffix>`, as CloudFormation names unnamed resources."""
    suffix = "".join(random.choices(string.ascii_uppercase + string.digits, k=12))
    return f"{target.stack_name}-{logical_id}"[: limit - 13] + "-" + suffix


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _aws_managed(arn: str) -> bool:
    return ":iam::aws:policy/" in arn


# --- AWS::IAM::Role -------------------------------------------------------------------------------


def _role(target: Target, logical_id: str, props: dict[str, Any]) -> Created:
    iam = target.client("iam")
    name = props.get("RoleName") or generated_name(target, logical_id)
    extra = {"MaxSessionDuration": int(props["MaxSessionDuration"])} if "MaxSessionDuration" in props else {}
    role = iam.create_role(
        RoleName=name,
        Path=props.get("Path", "/"),
        AssumeRolePolicyDocument=_document(props["AssumeRolePolicyDocument"]),
        **extra,
    )["Role"]
    for policy in props.get("Policies") or ():
        iam.put_role_policy(
            RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=_document(policy["PolicyDocument"])
        )
    for arn in props.get("ManagedPolicyArns") or ():
        try:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        except ClientError as error:
            # AWS managed policies exist in every account; moto holds them only when asked to load
            # them (MOTO_IAM_LOAD_MANAGED_POLICIES), and the simulated EC2 never checks them.
            if not (_aws_managed(arn) and error.response["Error"]["Code"] == "NoSuchEntity"):
                raise
    return Created(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _delete_role(target: Target, created: Created) -> None:
    iam = target.client("iam")
    name = created.ref
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=name
        )
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
    iam.delete_role(RoleName=name)


# --- AWS::IAM::ManagedPolicy ----------------------------------------------------------------------


def _managed_policy(target: Target, logical_id: str, props: dict[str, Any]) -> Created:
    iam = target.client("iam")
    name = props.get("ManagedPolicyName") or generated_name(target, logical_id, 128)
    arn = iam.create_policy(
        PolicyName=name, Path=props.get("Path", "/"), PolicyDocument=_document(props["PolicyDocument"])
    )["Policy"]["Arn"]
    for role in props.get("Roles") or ():
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return Created(arn, {"PolicyArn": arn, "PolicyId": arn.rsplit("/", 1)[-1]})


def _delete_managed_policy(target: Target, created: Created) -> None:
    iam = target.client("iam")
    for entity in iam.list_entities_for_policy(PolicyArn=created.ref).get("PolicyRoles") or ():
        iam.detach_role_policy(RoleName=entity["RoleName"], PolicyArn=created.ref)
    iam.delete_policy(PolicyArn=created.ref)


# --- AWS::IAM::InstanceProfile --------------------------------------------------------------------


def _instance_profile(target: Target, logical_id: str, props: dict[str, Any]) -> Created:
    iam = target.client("iam")
    name = props.get("InstanceProfileName") or generated_name(target, logical_id, 128)
    profile = iam.create_instance_profile(InstanceProfileName=name, Path=props.get("Path", "/"))[
        "InstanceProfile"
    ]
    roles = props.get("Roles") or []
    if len(roles) != 1:
        raise ResourceFailed("Roles: an instance profile holds exactly one role")
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=roles[0])
    return Created(name, {"Arn": profile["Arn"]})


def _delete_instance_profile(target: Target, created: Created) -> None:
    iam = target.client("iam")
    profile = iam.get_instance_profile(InstanceProfileName=created.ref)["InstanceProfile"]
    for role in profile.get("Roles") or ():
        iam.remove_role_from_instance_profile(InstanceProfileName=created.ref, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=created.ref)


# --- AWS::SQS::Queue and AWS::SQS::QueuePolicy ----------------------------------------------------

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
)


def _attribute_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _queue(target: Target, logical_id: str, props: dict[str, Any]) -> Created:
    sqs = target.client("sqs")
    name = props.get("QueueName") or generated_name(target, logical_id, 80)
    attributes = {k: _attribute_text(props[k]) for k in _QUEUE_ATTRIBUTES if k in props}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Created(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _delete_queue(target: Target, created: Created) -> None:
    target.client("sqs").delete_queue(QueueUrl=created.ref)


def _queue_policy(target: Target, logical_id: str, props: dict[str, Any]) -> Created:
    sqs = target.client("sqs")
    queues = list(props.get("Queues") or [])
    for url in queues:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _document(props["PolicyDocument"])})
    return Created(generated_name(target, logical_id), {"Queues": queues})


def _delete_queue_policy(target: Target, created: Created) -> None:
    sqs = target.client("sqs")
    for url in created.attributes["Queues"]:
        with contextlib.suppress(ClientError):  # the queue may have gone first
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})


# --- AWS::Events::Rule ----------------------------------------------------------------------------


def _rule(target: Target, logical_id: str, props: dict[str, Any]) -> Created:
    events = target.client("events")
    name = props.get("Name") or generated_name(target, logical_id)
    arguments: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
    if "EventPattern" in props:
        arguments["EventPattern"] = _document(props["EventPattern"])
    if "ScheduleExpression" in props:
        arguments["ScheduleExpression"] = props["ScheduleExpression"]
    if "Description" in props:
        arguments["Description"] = props["Description"]
    arn = events.put_rule(**arguments)["RuleArn"]
    targets = [{"Id": t["Id"], "Arn": t["Arn"]} for t in props.get("Targets") or ()]
    if targets:
        events.put_targets(Rule=name, Targets=targets)
    return Created(name, {"Arn": arn, "Targets": [t["Id"] for t in targets]})


def _delete_rule(target: Target, created: Created) -> None:
    events = target.client("events")
    if created.attributes["Targets"]:
        events.remove_targets(Rule=created.ref, Ids=created.attributes["Targets"])
    events.delete_rule(Name=created.ref)


# --- AWS::EKS::AccessEntry ------------------------------------------------------------------------


def _access_entry(target: Target, logical_id: str, props: dict[str, Any]) -> Created:
    cluster, principal = str(props["ClusterName"]), str(props["PrincipalArn"])
    body: dict[str, Any] = {"principalArn": principal, "type": props.get("Type", "STANDARD")}
    if props.get("Username"):
        body["username"] = props["Username"]
    if props.get("KubernetesGroups"):
        body["kubernetesGroups"] = list(props["KubernetesGroups"])
    base = f"/clusters/{cluster}/access-entries"
    try:
        target.eks_access.handle("POST", _route(base), body, target.account_id, target.region)
        for policy in props.get("AccessPolicies") or ():
            scope = policy.get("AccessScope") or {"Type": "cluster"}
            target.eks_access.handle(
                "POST",
                _route(f"{base}/{quote(principal, safe='')}/access-policies"),
                {
                    "policyArn": policy["PolicyArn"],
                    "accessScope": {
                        "type": str(scope.get("Type", "cluster")).lower(),
                        **({"namespaces": list(scope["Namespaces"])} if scope.get("Namespaces") else {}),
                    },
                },
                target.account_id,
                target.region,
            )
    except AwsError as error:
        raise ResourceFailed(
            f"{error.message} (Service: Eks, Status Code: {error.status}, Error Code: {error.code})"
        ) from error
    arn = f"arn:aws:eks:{target.region}:{target.account_id}:access-entry/{cluster}/{principal.rsplit('/', 1)[-1]}"
    return Created(
        f"{cluster}|{principal}", {"AccessEntryArn": arn, "Cluster": cluster, "Principal": principal}
    )


def _route(path: str) -> Any:
    match = EksAccess.route(path)
    if match is None:
        raise ResourceFailed(f"not an access entry path: {path}")
    return match


def _delete_access_entry(target: Target, created: Created) -> None:
    cluster, principal = created.attributes["Cluster"], created.attributes["Principal"]
    target.eks_access.handle(
        "DELETE",
        _route(f"/clusters/{cluster}/access-entries/{quote(principal, safe='')}"),
        {},
        target.account_id,
        target.region,
    )


Creator = Callable[[Target, str, dict[str, Any]], Created]
Deleter = Callable[[Target, Created], None]

RESOURCE_TYPES: dict[str, tuple[Creator, Deleter]] = {
    "AWS::IAM::Role": (_role, _delete_role),
    "AWS::IAM::ManagedPolicy": (_managed_policy, _delete_managed_policy),
    "AWS::IAM::InstanceProfile": (_instance_profile, _delete_instance_profile),
    "AWS::SQS::Queue": (_queue, _delete_queue),
    "AWS::SQS::QueuePolicy": (_queue_policy, _delete_queue_policy),
    "AWS::Events::Rule": (_rule, _delete_rule),
    "AWS::EKS::AccessEntry": (_access_entry, _delete_access_entry),
}
