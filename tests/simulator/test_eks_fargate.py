"""The simulated EKS runs Fargate profiles the way EKS does: each test states the real behaviour
(EKS API reference for the four profile calls; https://docs.aws.amazon.com/eks/latest/userguide/
fargate-profile.html and fargate.html)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from kubernetes import client

from simulator.cloud.eks_fargate import create_pod_execution_role
from simulator.controllers.fargate import fargate_shape
from tests.fixtures.simulation import gateway_client, kube_api, wait_for


@pytest.fixture
def cluster(simulated_cloud, simulated_cluster):
    return simulated_cluster(cloud=simulated_cloud, pod_start_delay=0)


@pytest.fixture
def core(cluster, kube_client):
    return kube_api(client.CoreV1Api, kube_client(cluster))


@pytest.fixture
def eks(simulated_cloud):
    return gateway_client(simulated_cloud, "eks")


@pytest.fixture
def role(simulated_cloud):
    iam = simulated_cloud.admin.client("iam", simulated_cloud.customer_account_id)
    return create_pod_execution_role(iam, "FargatePods")


def _subnets(cloud: Any, cluster: Any) -> list[str]:
    return sorted(cloud.clusters[cluster.name].network.subnets.values())


def _create(eks: Any, cluster: Any, cloud: Any, role: str, name: str = "web", **changes: Any) -> Any:
    body = {
        "fargateProfileName": name,
        "clusterName": cluster.name,
        "podExecutionRoleArn": role,
        "subnets": _subnets(cloud, cluster),
        "selectors": [{"namespace": "serverless", "labels": {"app": "web"}}],
        **changes,
    }
    return eks.create_fargate_profile(**body)["fargateProfile"]


def _status(eks: Any, cluster: Any, name: str = "web") -> str:
    return str(
        eks.describe_fargate_profile(clusterName=cluster.name, fargateProfileName=name)["fargateProfile"][
            "status"
        ]
    )


def _pod(name: str, labels: dict[str, str], cpu: str = "500m", memory: str = "1Gi") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ]
        },
    }


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_profile_is_creating_then_active_with_the_real_shapes(simulated_cloud, cluster, eks, role) -> None:
    created = _create(eks, cluster, simulated_cloud, role)
    assert created["status"] == "CREATING"
    assert created["fargateProfileArn"].startswith(
        f"arn:aws:eks:us-east-1:{simulated_cloud.customer_account_id}:fargateprofile/{cluster.name}/web/"
    )
    assert created["selectors"] == [{"namespace": "serverless", "labels": {"app": "web"}}]
    assert created["podExecutionRoleArn"] == role
    assert eks.list_fargate_profiles(clusterName=cluster.name)["fargateProfileNames"] == ["web"]
    wait_for(lambda: _status(eks, cluster) == "ACTIVE")
    with pytest.raises(ClientError) as missing:
        eks.describe_fargate_profile(clusterName=cluster.name, fargateProfileName="nope")
    assert _code(missing) == "ResourceNotFoundException"


def test_one_profile_operation_at_a_time_per_cluster(simulated_cloud, cluster, eks, role) -> None:
    _create(eks, cluster, simulated_cloud, role)
    with pytest.raises(ClientError) as busy:
        _create(eks, cluster, simulated_cloud, role, name="other")
    assert _code(busy) == "ResourceInUseException" and "CREATING" in str(busy.value)
    with pytest.raises(ClientError) as again:
        _create(eks, cluster, simulated_cloud, role)
    assert _code(again) == "ResourceInUseException"
    wait_for(lambda: _status(eks, cluster) == "ACTIVE")
    _create(eks, cluster, simulated_cloud, role, name="other")
    with pytest.raises(ClientError) as deleting:
        eks.delete_fargate_profile(clusterName=cluster.name, fargateProfileName="web")
    assert _code(deleting) == "ResourceInUseException"


def test_profiles_without_role_subnets_or_private_subnets_or_namespaces_are_refused(
    simulated_cloud, cluster, eks, role
) -> None:
    with pytest.raises(ClientError) as no_subnets:
        _create(eks, cluster, simulated_cloud, role, subnets=[])
    assert _code(no_subnets) == "InvalidParameterException"
    iam = simulated_cloud.admin.client("iam", simulated_cloud.customer_account_id)
    with pytest.raises(ClientError) as no_role:
        _create(eks, cluster, simulated_cloud, role.replace("FargatePods", "NoSuchRole"))
    assert _code(no_role) == "InvalidParameterException"
    ec2_role = iam.create_role(
        RoleName="NotForFargate",
        AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}',
    )["Role"]["Arn"]
    with pytest.raises(ClientError) as wrong_trust:
        _create(eks, cluster, simulated_cloud, ec2_role)
    assert "eks-fargate-pods.amazonaws.com" in str(wrong_trust.value)
    with pytest.raises(ClientError) as no_namespace:
        _create(eks, cluster, simulated_cloud, role, selectors=[{"namespace": "", "labels": {}}])
    assert _code(no_namespace) == "InvalidParameterException"
    # A subnet routed to an internet gateway is public: Fargate refuses it.
    ec2 = simulated_cloud.admin.client("ec2", simulated_cloud.customer_account_id, simulated_cloud.region)
    network = simulated_cloud.clusters[cluster.name].network
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=network.vpc_id)
    table = ec2.create_route_table(VpcId=network.vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    public = _subnets(simulated_cloud, cluster)[0]
    ec2.associate_route_table(RouteTableId=table, SubnetId=public)
    with pytest.raises(ClientError) as not_private:
        _create(eks, cluster, simulated_cloud, role, subnets=[public])
    assert "not a private subnet" in str(not_private.value)
    assert eks.list_fargate_profiles(clusterName=cluster.name)["fargateProfileNames"] == []


def test_only_a_pod_created_after_the_profile_is_active_runs_on_its_own_fargate_node(
    simulated_cloud, cluster, eks, role, core
) -> None:
    core.create_namespace({"metadata": {"name": "serverless"}})
    _create(eks, cluster, simulated_cloud, role)
    core.create_namespaced_pod("serverless", _pod("early", {"app": "web"}))
    wait_for(lambda: _status(eks, cluster) == "ACTIVE")
    core.create_namespaced_pod("serverless", _pod("late", {"app": "web"}))
    core.create_namespaced_pod("serverless", _pod("other", {"app": "api"}))
    early, late, other = (core.read_namespaced_pod(n, "serverless") for n in ("early", "late", "other"))
    assert early.spec.scheduler_name == "default-scheduler"  # not converted: schedulerName is immutable
    assert other.spec.scheduler_name == "default-scheduler"  # its labels match no selector
    assert late.spec.scheduler_name == "fargate-scheduler"
    assert late.metadata.labels["eks.amazonaws.com/fargate-profile"] == "web"

    def running() -> Any:
        pod = core.read_namespaced_pod("late", "serverless")
        return pod if pod.status.phase == "Running" else None

    pod = wait_for(running)
    node = core.read_node(pod.spec.node_name)
    assert node.metadata.name.startswith("fargate-ip-") and node.metadata.name.endswith(".ec2.internal")
    assert node.metadata.labels["eks.amazonaws.com/compute-type"] == "fargate"
    assert (
        node.metadata.labels["topology.kubernetes.io/zone"]
        in simulated_cloud.clusters[cluster.name].network.subnets
    )
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [
        ("eks.amazonaws.com/compute-type", "fargate", "NoSchedule")
    ]
    # 0.5 vCPU and 1 GiB + 256 MiB round up to the 0.5 vCPU / 2 GB configuration.
    assert node.status.capacity["cpu"] == "500m" and node.status.capacity["memory"] == "2048Mi"
    assert pod.metadata.annotations["CapacityProvisioned"] == "0.5vCPU 2GB"
    assert core.read_namespaced_pod("early", "serverless").spec.node_name is None

    core.delete_namespaced_pod("late", "serverless", grace_period_seconds=0)
    wait_for(lambda: node.metadata.name not in {n.metadata.name for n in core.list_node().items})


def test_deleting_a_profile_deletes_the_pods_it_scheduled(simulated_cloud, cluster, eks, role, core) -> None:
    core.create_namespace({"metadata": {"name": "serverless"}})
    _create(eks, cluster, simulated_cloud, role)
    wait_for(lambda: _status(eks, cluster) == "ACTIVE")
    core.create_namespaced_pod("serverless", _pod("late", {"app": "web"}))
    wait_for(lambda: core.read_namespaced_pod("late", "serverless").spec.node_name)
    assert (
        eks.delete_fargate_profile(clusterName=cluster.name, fargateProfileName="web")["fargateProfile"][
            "status"
        ]
        == "DELETING"
    )
    wait_for(lambda: not eks.list_fargate_profiles(clusterName=cluster.name)["fargateProfileNames"])
    wait_for(lambda: not core.list_namespaced_pod("serverless").items)


def test_fargate_shapes_round_up_the_pod_plus_its_overhead() -> None:
    assert fargate_shape({"cpu": 0.1, "memory": 128 * 1024**2}) == (0.25, 512)
    assert fargate_shape({"cpu": 0.25, "memory": 512 * 1024**2}) == (0.25, 1024)  # 512 + 256 MiB
    assert fargate_shape({"cpu": 1.0, "memory": 0.0}) == (1.0, 2048)
    assert fargate_shape({"cpu": 64.0, "memory": 0.0}) is None
