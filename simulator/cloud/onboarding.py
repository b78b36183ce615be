"""What a customer does in their own account to connect Nodeless, done against the simulated cloud:
create the control-plane role (trusting Nodeless's principal with the organization's external
ID, allowing the controller actions) and map it into EKS clusters with access entries.

Works in-process or from another process, with the customer-admin credentials and endpoint of
the simulation descriptor:

    role_arn = onboard_customer(descriptor, role_name="NodelessControlPlane-acme",
                                external_id=org.external_id,
                                principal_arn=settings.NODELESS_AWS_PRINCIPAL_ARN,
                                actions=required_iam_actions())
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from simulator.cloud.eks_fargate import create_pod_execution_role
from simulator.cloud.simulated_cloud import create_node_role
from simulator.descriptor import SimulationDescriptor

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


def trust_document(principal_arn: str, external_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def create_role(
    iam: Any, *, role_name: str, principal_arn: str, external_id: str, actions: Sequence[str]
) -> str:
    """Create (or update) the role; returns its ARN. Idempotent, like re-running the stack."""
    trust = json.dumps(trust_document(principal_arn, external_id))
    try:
        arn: str = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
            raise
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=trust)
        arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName=role_name, PolicyName="NodelessController", PolicyDocument=json.dumps(policy)
    )
    return arn


def grant_cluster_access(
    eks: Any, *, cluster_name: str, principal_arn: str, policy_arn: str = CLUSTER_ADMIN_POLICY
) -> None:
    """An EKS access entry for the role, with one access policy (cluster-wide)."""
    try:
        eks.create_access_entry(clusterName=cluster_name, principalArn=principal_arn, type="STANDARD")
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    eks.associate_access_policy(
        clusterName=cluster_name,
        principalArn=principal_arn,
        policyArn=policy_arn,
        accessScope={"type": "cluster"},
    )


def onboard_customer(
    descriptor: SimulationDescriptor,
    *,
    role_name: str,
    external_id: str,
    principal_arn: str,
    actions: Sequence[str],
    policy_arn: str = CLUSTER_ADMIN_POLICY,
    node_role_name: str = "NodelessNodeRole-nodeless-access",
    fargate_role_name: str = "NodelessFargatePodRole-nodeless-access",
) -> str:
    """Create the role in the simulated customer account and grant it access to every EKS cluster;
    create the stack's node role and its instance profile (`node_role_name`), which instances
    Nodeless launches run as (their access entry is Nodeless's to create, at import), and its Fargate
    pod execution role (`fargate_role_name`), which the Fargate profiles Nodeless creates name."""
    aws = descriptor.aws
    if aws is None:
        raise ValueError("this simulation has no cloud")
    session = boto3.Session(
        aws_access_key_id=aws.customer_admin_access_key_id,
        aws_secret_access_key=aws.customer_admin_secret_access_key,
        aws_session_token=aws.customer_admin_session_token or None,
        region_name=aws.region,
    )
    iam: Any = session.client("iam", endpoint_url=aws.endpoint_url)
    role_arn = create_role(
        iam, role_name=role_name, principal_arn=principal_arn, external_id=external_id, actions=actions
    )
    if node_role_name:
        create_node_role(iam, node_role_name)
    if fargate_role_name:
        create_pod_execution_role(iam, fargate_role_name)
    for cluster in descriptor.clusters:
        if cluster.kind == "eks":
            eks: Any = session.client("eks", endpoint_url=aws.endpoint_url, region_name=cluster.region)
            grant_cluster_access(
                eks, cluster_name=cluster.name, principal_arn=role_arn, policy_arn=policy_arn
            )
    return role_arn
