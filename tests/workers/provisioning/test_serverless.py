"""Serverless launched for real, on the strict simulated AWS and EKS over loopback HTTP: a policy that
allows serverless gets its pods onto Fargate the way EKS routes them (a Fargate profile that matches
the pod when it is created), their spend is metered at the Fargate price and shows on the overview,
and the profiles go when no pod needs them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from kubernetes import client as k8s

from billing.models import NodeUsage
from billing.services.metering import floor_minute, meter_cluster
from clusters.models import NodeClass
from engines.kube.capacity import CapacityType
from tests.billing.ledger_builders import page_table
from tests.fixtures.connections import FARGATE_POD_ROLE
from tests.fixtures.pages import get_page
from tests.fixtures.simulation import gateway_client, kube_api, wait_for
from workers.provisioning.serverless import NOT_RECREATABLE

pytestmark = pytest.mark.django_db
# us-east-1 Fargate, Linux/x86 (data/serverless_prices.csv): $/vCPU-hour and $/GB-hour.
VCPU_HOUR, GB_HOUR = 0.04048, 0.004445
# 250m and 512Mi + 256 MiB of Fargate overhead round up to 0.25 vCPU / 1 GB.
POD_PRICE = 0.25 * VCPU_HOUR + 1 * GB_HOUR


def _deployment(name: str, replicas: int, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox",
                            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}},
                        }
                    ]
                },
            },
        },
    }


def _pods(nodeless: Any, namespace: str, selector: str) -> list[Any]:
    return list(nodeless.core.list_namespaced_pod(namespace, label_selector=selector).items)


def _on_fargate(nodeless: Any, namespace: str, selector: str, count: int) -> list[Any]:
    pods = _pods(nodeless, namespace, selector)
    running = [
        p for p in pods if p.status.phase == "Running" and (p.spec.node_name or "").startswith("fargate-ip-")
    ]
    return running if len(running) == count == len(pods) else []


def _profiles(nodeless: Any) -> list[dict[str, Any]]:
    """The cluster's Fargate profiles; one deleted between the list and its describe is gone."""
    eks = gateway_client(nodeless.aws.cloud, "eks")
    names = eks.list_fargate_profiles(clusterName=nodeless.sim.name)["fargateProfileNames"]
    found = []
    for name in names:
        try:
            found.append(
                eks.describe_fargate_profile(clusterName=nodeless.sim.name, fargateProfileName=name)[
                    "fargateProfile"
                ]
            )
        except eks.exceptions.ResourceNotFoundException:
            continue
    return found


def test_a_serverless_policy_runs_a_deployment_on_fargate_and_the_overview_shows_its_spend(
    nodeless, kube_client, client
) -> None:
    nodeless.policy(capacity_types=["serverless"])
    nodeless.core.create_namespace({"metadata": {"name": "shop"}})
    apps = kube_api(k8s.AppsV1Api, kube_client(nodeless.sim))
    apps.create_namespaced_deployment("shop", _deployment("web", 2, {"app": "web"}))

    recreated: list[str] = []

    def routed() -> list[Any]:
        recreated.extend(nodeless.reconcile().recreated)
        return _on_fargate(nodeless, "shop", "app=web", 2)

    pods = wait_for(routed, timeout=90)
    # The pods created before the profile was ACTIVE were recreated by their ReplicaSet.
    assert len(recreated) == 2
    assert all(p.spec.scheduler_name == "fargate-scheduler" for p in pods)
    assert nodeless.rows() == []  # no EC2 instance launched

    # One profile for the workload: its namespace and labels, the stack's pod execution role, the
    # node class's private subnets, tagged as ours.
    (profile,) = _profiles(nodeless)
    assert profile["fargateProfileName"].startswith("nodeless-shop-")
    assert profile["status"] == "ACTIVE"
    assert profile["selectors"] == [{"namespace": "shop", "labels": {"app": "web"}}]
    assert profile["podExecutionRoleArn"].endswith(f":role/{FARGATE_POD_ROLE}")
    subnets = NodeClass.objects.get(cluster=nodeless.cluster).subnets
    assert sorted(profile["subnets"]) == sorted(set(subnets.values()))
    assert profile["tags"]["nodeless.io/managed-by"] == "nodeless"
    for pod in pods:
        node = nodeless.core.read_node(pod.spec.node_name)
        assert node.metadata.labels["eks.amazonaws.com/compute-type"] == "fargate"
        assert pod.metadata.annotations["CapacityProvisioned"] == "0.25vCPU 1GB"

    # Metered at the Fargate price of each pod's shape: an hour of it, minute by minute.
    hour = [floor_minute(timezone.now()) - timedelta(minutes=k) for k in range(60, 0, -1)]
    assert meter_cluster(str(nodeless.cluster.pk), now=timezone.now(), starts=hour).outcome == "metered"
    usage = list(NodeUsage.objects.filter(cluster=nodeless.cluster))
    assert {u.node_name for u in usage} == {p.spec.node_name for p in pods}
    assert all(u.capacity_type == CapacityType.SERVERLESS for u in usage)
    assert sum(u.seconds for u in usage) == pytest.approx(2 * 3600)
    assert sum(float(u.cost) for u in usage) == pytest.approx(2 * POD_PRICE, rel=1e-6)

    client.force_login(nodeless.cast.alice)
    html = get_page(client, "/", queries=20).content.decode()
    nodes = page_table(html, "nodes-by-capacity")
    assert [row[:2] for row in nodes[1:-1]] == [["Serverless", "2.0"]]  # two Fargate nodes, nothing else
    month = re.search(r'data-stat="month"><div class="label">[^<]*</div><div class="value">([^<]*)<', html)
    assert month is not None and month.group(1) == f"${2 * POD_PRICE:.2f}" == "$0.03"

    # Scaled to zero: the Fargate nodes go with the pods, then the profile no pod needs.
    apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": 0}})
    nodeless.until(lambda: not _pods(nodeless, "shop", "app=web"), timeout=60)
    nodeless.until(
        lambda: not any(n.metadata.name.startswith("fargate-ip-") for n in nodeless.core.list_node().items)
    )
    nodeless.until(lambda: not _profiles(nodeless), timeout=90)


def test_a_pod_no_controller_owns_stays_pending_and_a_new_copy_runs_on_fargate(nodeless) -> None:
    """EKS routes a pod only at its creation, and nobody can recreate a bare pod but its author: the
    product never deletes it, and says so; a copy created once the profile is ACTIVE runs on Fargate."""
    nodeless.policy(capacity_types=["serverless"])
    nodeless.create_pod("solo", namespace="jobs", labels={"app": "solo"}, cpu="250m", memory="512Mi")

    def told() -> str:
        return nodeless.reconcile().pending.get("jobs/solo", "")

    reason = wait_for(lambda: "no controller owns" in (r := told()) and r, timeout=90)
    profile = _profiles(nodeless)[0]["fargateProfileName"]
    assert reason == NOT_RECREATABLE.format(profile=profile)
    nodeless.create_pod("solo-2", namespace="jobs", labels={"app": "solo"}, cpu="250m", memory="512Mi")
    nodeless.until(lambda: (nodeless.pod("solo-2", "jobs").spec.node_name or "").startswith("fargate-ip-"))
    solo = nodeless.pod("solo", "jobs")
    assert solo.spec.scheduler_name == "default-scheduler" and solo.spec.node_name is None
    assert nodeless.rows() == []
