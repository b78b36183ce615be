"""A whole simulation: descriptor, kubeconfig, onboarding a customer role, clean shutdown."""

import json
import shutil
import socket
import stat
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import yaml
from kubernetes import client

from clusters.cloud.aws_session import AssumeRoleTarget, AwsEndpoints, assumed_role_session
from clusters.cloud.eks_token import eks_bearer_token
from simulator.cloud.onboarding import onboard_customer
from simulator.cloud.simulated_cloud import CONTROLLER_ACTIONS
from simulator.descriptor import load_descriptor
from simulator.runner import Simulation, SimulationSpec
from tests.fixtures.simulation import kube_api


@pytest.fixture
def simulation(tmp_path):
    simulation = Simulation(SimulationSpec(eks_clusters=1, onprem_clusters=1, speed=20), tmp_path / "sim")
    simulation.start()
    yield simulation
    simulation.stop()


def test_the_descriptor_describes_every_cluster_and_the_cloud(simulation):
    descriptor = load_descriptor(simulation.descriptor_path)
    assert stat.S_IMODE(simulation.descriptor_path.stat().st_mode) == 0o600
    assert [(c.name, c.kind, c.mode) for c in descriptor.clusters] == [
        ("eks-1", "eks", "nodeless"),
        ("onprem-1", "static", "onprem"),
    ]
    eks = descriptor.cluster("eks-1")
    assert eks.ec2_tag_key == "kubernetes.io/cluster/eks-1" and eks.interruption_queue_url
    assert not hasattr(eks, "launch_template_name")  # the product creates its own launch templates
    overrides = json.loads(Path(descriptor.eks_endpoints_file).read_text())
    assert overrides == {"us-east-1/eks-1": {"endpoint": eks.endpoint, "ca_pem": eks.ca_pem}}
    kubeconfig = yaml.safe_load(simulation.kubeconfig_path.read_text())
    assert [c["name"] for c in kubeconfig["contexts"]] == ["eks-1", "onprem-1"]
    assert (
        descriptor.aws is not None
        and descriptor.aws.external_id
        and descriptor.aws.role_arn.endswith(":role/NodelessControlPlane")
    )


def test_the_memory_census_names_each_clusters_stored_objects_and_history(simulation):
    census = simulation.memory_census().splitlines()
    assert any(line.startswith("onprem-1 nodes: ") and "events" in line for line in census)
    assert any(line.split()[-1] == "dict" for line in census)  # the most numerous Python types


def test_onboarding_a_customer_role_lets_the_product_reach_the_eks_cluster(simulation, tmp_path):
    descriptor = load_descriptor(simulation.descriptor_path)
    aws = descriptor.aws
    assert aws is not None
    principal = f"arn:aws:iam::{aws.vendor_account_id}:root"
    role_arn = onboard_customer(
        descriptor,
        role_name="NodelessControlPlane-acme",
        external_id="acme-external-id",
        principal_arn=principal,
        actions=CONTROLLER_ACTIONS,
    )
    endpoints = AwsEndpoints(endpoint_url=aws.endpoint_url)
    session = assumed_role_session(
        AssumeRoleTarget(role_arn, "acme-external-id", aws.region),
        endpoints=endpoints,
        base_session=boto3.Session(aws_access_key_id="AKIAPRODUCT", aws_secret_access_key="x"),
    )
    eks = descriptor.cluster("eks-1")
    configuration = client.Configuration()
    configuration.host = eks.endpoint
    ca = tmp_path / "ca.pem"
    ca.write_text(eks.ca_pem)
    configuration.ssl_ca_cert = str(ca)
    configuration.api_key = {"authorization": eks_bearer_token(session, "eks-1", aws.region).token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(configuration) as api_client:
        assert kube_api(client.CoreV1Api, api_client).list_namespace().items


@pytest.mark.kubectl
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_reaches_every_context_of_the_kubeconfig(simulation, tmp_path):
    for context, expect_nodes in (("onprem-1", True), ("eks-1", False)):
        result = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(simulation.kubeconfig_path),
                "--context",
                context,
                "get",
                "nodes",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        assert bool(result.stdout.strip()) is expect_nodes  # an EKS cluster has no nodes until we launch some


def test_stopping_a_simulation_leaves_no_threads_or_ports(tmp_path):
    before = {t.ident for t in threading.enumerate()}
    simulation = Simulation(SimulationSpec(eks_clusters=1, onprem_clusters=1), tmp_path / "sim")
    descriptor = simulation.start()
    assert descriptor.aws is not None
    endpoints = [c.endpoint for c in descriptor.clusters] + [descriptor.aws.endpoint_url]
    simulation.stop()
    leaked = [t.name for t in threading.enumerate() if t.ident not in before and t.name != "sim-moto"]
    assert leaked == []
    for endpoint in endpoints:
        parts = urlsplit(endpoint)
        with pytest.raises(OSError), socket.create_connection((parts.hostname, parts.port), timeout=2):
            pass
