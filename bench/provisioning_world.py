"""The world the provisioning benchmarks run in: `manage.py simulate` in its own process, and a fresh
organization that connects one of its clusters as a customer would. Importing this module sets up
Django for the benchmark scripts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nodeless_saas.settings")
os.environ.setdefault("NODELESS_ENV", "test")
os.environ.setdefault("NODELESS_INSTANCE_LIST_SECONDS", "10")  # production's default, not the tests' 0
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from kubernetes import client as k8s  # noqa: E402

from clusters import services as cluster_services  # noqa: E402
from clusters.kube.access import cluster_api_client  # noqa: E402
from clusters.onboarding.aws import eks_tokens  # noqa: E402
from clusters.onboarding.cloudformation import required_iam_actions  # noqa: E402
from policies import services as policy_services  # noqa: E402
from simulator.cloud.onboarding import onboard_customer  # noqa: E402
from simulator.descriptor import load_descriptor  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.actors import Actor  # noqa: E402

CLIENT_REFRESH_SECONDS = 300
POLICY = {
    "objective": "cost",
    "capacity_types": ["on_demand", "spot"],
    "packing": "pack",
    "scale_down_delay_seconds": 600,
    "spot_fallback_seconds": 120,
}


def emit(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Simulation:
    """`manage.py simulate` in its own process, as in production the clusters and the cloud are not
    in the control plane's process (and do not compete with it for the interpreter)."""

    def __init__(self, workdir: Path, clusters: int) -> None:
        self.workdir = workdir
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "simulate",
                "--clusters",
                str(clusters),
                "--onprem",
                "0",
                "--boot-delay",
                "0",
                "--pod-start-delay",
                "0",
                "--workdir",
                str(workdir),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.time() + 120
        path = workdir / "simulation.json"
        while not path.exists() or not path.read_text().strip().endswith("}"):
            if time.time() > deadline or self.process.poll() is not None:
                raise RuntimeError("the simulation did not start")
            time.sleep(0.2)
        time.sleep(0.3)
        self.descriptor = load_descriptor(path)
        assert self.descriptor.aws is not None  # the simulation runs a simulated AWS
        settings.NODELESS_AWS_ENDPOINT_URL = self.descriptor.aws.endpoint_url
        settings.NODELESS_EKS_ENDPOINT_OVERRIDES = str(self.descriptor.eks_endpoints_file)
        eks_tokens.clear()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class World:
    """A fresh organization with a verified AWS account and one nodeless cluster of the simulation."""

    def __init__(self, simulation: Simulation, cluster_name: str) -> None:
        self.simulation = simulation
        user = tenant_services.signup(
            email=f"{uuid.uuid4().hex[:8]}@bench.example",
            password=uuid.uuid4().hex,
            organization_name=f"bench {cluster_name}",
        )[0]
        organization = user.memberships.get().organization
        actor = Actor(user=user)
        role = onboard_customer(
            simulation.descriptor,
            role_name=f"Nodeless-{uuid.uuid4().hex[:8]}",
            external_id=organization.external_id,
            principal_arn=settings.NODELESS_AWS_PRINCIPAL_ARN,
            actions=required_iam_actions(),
        )
        account = cluster_services.cloud_account_connect(
            organization, actor=actor, name=cluster_name, role_arn=role, regions=["us-east-1"]
        )
        asked = cluster_services.cluster_import_eks(
            organization,
            actor=actor,
            account=account,
            region="us-east-1",
            eks_cluster_name=cluster_name,
            mode="nodeless",
        )
        checked = cluster_services.cluster_check_run(str(asked.pk))  # what the worker would do
        assert checked is not None and checked.status == "connected", asked.name
        self.cluster = checked
        policy_services.provisioning_policy_save(organization, actor=actor, cluster=None, data=POLICY)
        self._core: Any = None
        self._core_made = 0.0

    @property
    def core(self) -> Any:
        """A client whose EKS token is fresh (tokens live 15 minutes; the big cluster takes longer
        to set up). Any: the benchmark passes dict manifests and reads raw responses."""
        if self._core is None or time.monotonic() - self._core_made > CLIENT_REFRESH_SECONDS:
            self._core = k8s.CoreV1Api(cluster_api_client(self.cluster))
            self._core_made = time.monotonic()
        return self._core
