"""Federation fixtures: member clusters (simulated, connected to org A through the product's own
kubeconfig path, behind a partition the test can cut), policies, workloads and loop passes."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client as kube

from clusters.models import Cluster
from clusters.services import cluster_connect_kubeconfig
from policies.federation import services
from policies.models import FederationPolicy, Workload
from simulator.cluster import SimulatedCluster
from simulator.controllers.static_nodes import StaticNodePool
from tenants.actors import Actor
from tests.federation.partition import Partition
from tests.fixtures.connections import kubeconfig_for
from tests.fixtures.simulation import kube_api, wait_for
from workers.federation import run_pass


@dataclass
class Member:
    """A simulated cluster, the product's Cluster row for it, and the link between them."""

    sim: SimulatedCluster
    cluster: Cluster
    link: Partition
    api_client: kube.ApiClient

    @property
    def apps(self) -> Any:
        return kube_api(kube.AppsV1Api, self.api_client)

    @property
    def core(self) -> Any:
        return kube_api(kube.CoreV1Api, self.api_client)

    @property
    def batch(self) -> Any:
        return kube_api(kube.BatchV1Api, self.api_client)

    def deployment_replicas(self, namespace: str, name: str) -> int | None:
        """spec.replicas of the Deployment there, None when there is none."""
        found = self.apps.list_namespaced_deployment(namespace, field_selector=f"metadata.name={name}").items
        return found[0].spec.replicas if found else None

    def running_pods(self, namespace: str, workload: Workload) -> int:
        pods = self.core.list_namespaced_pod(
            namespace, label_selector=f"nodeless.io/workload-id={workload.pk}"
        )
        return sum(1 for pod in pods.items if pod.status.phase == "Running")


def pool(count: int = 2, instance_type: str = "m5.xlarge", **fields: Any) -> StaticNodePool:
    return StaticNodePool(f"n{uuid.uuid4().hex[:4]}", count, instance_type, **fields)


@pytest.fixture
def member(cast, simulated_cluster, kube_client) -> Iterator[Callable[..., Member]]:
    """A factory: ``member("onprem-1", {"cloud": "onprem"}, pools=(pool(2, cpu=4, memory_mib=8192),))``."""
    links: list[Partition] = []

    def connect(
        name: str, labels: dict[str, str], *, pools: tuple[StaticNodePool, ...] = (), mode: str = "observe"
    ) -> Member:
        sim = simulated_cluster(static_pools=pools or (pool(),), pod_start_delay=0.2)
        link = Partition(urlsplit(sim.url).port or 0)
        links.append(link)
        cluster = cluster_connect_kubeconfig(
            cast.org_a,
            actor=Actor(user=cast.alice),
            name=name,
            kubeconfig=kubeconfig_for(sim, server=link.url),
            mode=mode,
            labels=labels,
        )
        return Member(sim, cluster, link, kube_client(sim))

    yield connect
    for link in links:
        link.stop()


@pytest.fixture
def policy(cast) -> Callable[..., FederationPolicy]:
    """A factory: ``policy("cheap", strategy="cheapest", cluster_selector="env=prod")``."""

    def create(name: str = "default", **data: Any) -> FederationPolicy:
        return services.federation_policy_create(
            cast.org_a, actor=Actor(user=cast.alice), data={"name": name, "strategy": "cheapest", **data}
        )

    return create


def deployment(
    name: str = "web", replicas: int = 2, cpu: str = "500m", memory: str = "256Mi", **extra: Any
) -> str:
    document: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": extra.pop("namespace", "shop"), "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.27",
                            "resources": {"requests": {"cpu": cpu, "memory": memory}},
                        }
                    ]
                },
            },
        },
    }
    document["spec"].update(extra)
    return yaml.safe_dump(document)


def job(name: str = "batch", parallelism: int = 2, completions: int = 4, run_seconds: int = 1) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": "jobs"},
            "spec": {
                "parallelism": parallelism,
                "completions": completions,
                "template": {
                    "metadata": {"annotations": {"sim.nodeless.io/run-seconds": str(run_seconds)}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "work",
                                "image": "busybox",
                                "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}},
                            }
                        ],
                    },
                },
            },
        }
    )


def submit(cast, manifest: str, policy: FederationPolicy | None = None, **extra: Any) -> Workload:
    return services.workload_submit(
        cast.org_a, actor=Actor(user=cast.alice), manifest=manifest, policy=policy, **extra
    )


def settle(cast, until: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Run loop passes until ``until()`` holds (a wait bound, not a timing assertion)."""

    def step() -> Any:
        run_pass(str(cast.org_a.pk))
        return until()

    return wait_for(step, timeout=timeout, interval=0.05)


def fresh(workload: Workload) -> Workload:
    return Workload.objects.get(pk=workload.pk)


def placements(workload: Workload) -> dict[str, int]:
    """Cluster name → replicas of the workload's live placements."""
    return {p.cluster.name: p.replicas for p in workload.placements.select_related("cluster") if p.replicas}
