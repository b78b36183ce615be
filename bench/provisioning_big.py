"""The `big-cluster` case of `bench/provisioning.py`: one reconcile of a cluster with 5,000 managed nodes
and 50,000 running pods, plus 200 fresh pending pods that only a new m5.large node may take."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from django.core.cache import cache
from kubernetes.client.exceptions import ApiException

from bench.provisioning_world import World  # sets up Django
from clusters.models import ManagedNode, NodeState
from lab.kubeclient import drain
from simulator.catalog import load_catalog
from simulator.controllers.cloud_nodes import INSTANCE_ID_ANNOTATION
from simulator.nodes import NodeTemplate, node_object, node_resources
from workers.provisioning.reconcile import ReconcileReport, reconcile_cluster

INSTANCE_TYPE = "m5.4xlarge"
PENDING_INSTANCE_TYPE = "m5.large"


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def settle(pid: int, *, busy_share: float = 0.1, timeout: float = 300.0) -> None:
    """Wait until the simulation's process is idle: its controllers rescan every pod after changes
    (tens of seconds at 50,000 pods), and that work, which a real cluster does on other machines,
    would otherwise be timed as the pass's reads."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(1.0)
        if _cpu_seconds(pid) - before < busy_share:
            return
    raise RuntimeError("the simulation never settled")


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _launch_instances(world: World, nodes: int) -> list[dict[str, Any]]:
    """The cluster's instances, launched as the customer's admin (tagged as Nodeless tags its own)."""
    aws = world.simulation.descriptor.aws
    assert aws is not None
    admin = boto3.Session(
        aws_access_key_id=aws.customer_admin_access_key_id,
        aws_secret_access_key=aws.customer_admin_secret_access_key,
        aws_session_token=aws.customer_admin_session_token or None,
        region_name=aws.region,
    )
    ec2: Any = admin.client("ec2", endpoint_url=aws.endpoint_url)
    tags = [
        {"Key": f"kubernetes.io/cluster/{world.cluster.eks_cluster_name}", "Value": "owned"},
        {"Key": "nodeless.io/cluster", "Value": str(world.cluster.pk)},
        {"Key": "nodeless.io/managed-by", "Value": "nodeless"},
    ]
    launched: list[dict[str, Any]] = []
    for start in range(0, nodes, 500):
        count = min(500, nodes - start)
        launched += ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType=INSTANCE_TYPE,
            MinCount=count,
            MaxCount=count,
            Placement={"AvailabilityZone": "us-east-1a"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )["Instances"]
    return launched


def _register_nodes(world: World, launched: list[dict[str, Any]]) -> dict[str, str]:
    """Register the instances' nodes, as kubelets would register them, rather than waiting for the
    simulator's cloud poller (built for tens of nodes, it takes many minutes for thousands). The node
    name of each instance that registered, by instance id."""
    resources = node_resources(load_catalog().instance_type(INSTANCE_TYPE))

    def register(item: dict[str, Any]) -> None:
        template = NodeTemplate(
            name=item["PrivateDnsName"],
            resources=resources,
            labels={
                "node.kubernetes.io/instance-type": INSTANCE_TYPE,
                "topology.kubernetes.io/zone": "us-east-1a",
                "karpenter.sh/capacity-type": "on-demand",
            },
            provider_id=f"aws:///us-east-1a/{item['InstanceId']}",
            internal_ip=item.get("PrivateIpAddress", ""),
            annotations={INSTANCE_ID_ANNOTATION: item["InstanceId"]},
        )
        try:
            drain(world.core.create_node(node_object(template, time.time()), _preload_content=False))
        except ApiException as error:
            if error.status != 409:  # the simulator's poller registered it first
                raise

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(register, launched))
    listed = json.loads(world.core.list_node(_preload_content=False).data)["items"]
    return {n["spec"].get("providerID", "").rsplit("/", 1)[-1]: n["metadata"]["name"] for n in listed}


def _record_rows(world: World, instances: list[str], by_instance: dict[str, str]) -> None:
    """The rows Nodeless would hold for those nodes (Ready)."""
    ManagedNode.objects.bulk_create(
        [
            ManagedNode(
                organization_id=world.cluster.organization_id,
                cluster=world.cluster,
                idempotency_token=f"bench-{instance}",
                state=NodeState.READY,
                instance_id=instance,
                node_name=by_instance[instance],
                instance_type=INSTANCE_TYPE,
                capacity_type="on_demand",
                zone="us-east-1a",
                price_per_hour=0.768,
            )
            for instance in instances
            if instance in by_instance
        ],
        batch_size=1000,
    )


def _pod_maker(world: World, node_names: list[str], pods: int, pending: int) -> Callable[[int], None]:
    """Creates pod number `index`: the first `pods` run on the nodes, the others are pending."""

    def create(index: int) -> None:
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p{index}"},
            "spec": {
                "containers": [
                    {"name": "c", "image": "x", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}
                ]
            },
        }
        if index < pods:
            body["spec"]["nodeName"] = node_names[index % len(node_names)]
        else:
            # Pending pods no existing node may take (the simulator's scheduler would otherwise place
            # them before the pass): the pass has to plan and launch for them.
            body["spec"]["nodeSelector"] = {"node.kubernetes.io/instance-type": PENDING_INSTANCE_TYPE}
            body["metadata"]["labels"] = {"bench": f"fresh-{index // pending}"}
        drain(world.core.create_namespaced_pod("default", body, _preload_content=False))

    return create


def _fresh_pods(world: World, create: Callable[[int], None], pods: int, pending: int, batch: int) -> None:
    """Create a batch of pending pods and wait until the simulator's scheduler has given up on them
    (PodScheduled=False): a real kube-scheduler runs beside the API server, but the simulator's
    shares its interpreter, and checking 200 pods against 5,000 nodes would be timed as part of the
    pass."""
    first = pods + batch * pending
    for index in range(first, first + pending):
        create(index)
    deadline = time.time() + 300
    while time.time() < deadline:
        listed = json.loads(
            world.core.list_namespaced_pod(
                "default", label_selector=f"bench=fresh-{first // pending}", _preload_content=False
            ).data
        )["items"]
        refused = [
            pod
            for pod in listed
            if any(
                c.get("type") == "PodScheduled" and c.get("status") == "False"
                for c in pod.get("status", {}).get("conditions") or ()
            )
        ]
        if len(refused) >= pending:
            return
        time.sleep(0.5)
    raise RuntimeError("the simulator's scheduler did not get to the fresh pods")


def _hand_off(row_ids: list[str]) -> None:
    """Launches are handed off as the Celery task hands them to launch tasks (see `reaction`)."""


def _measured_pass(world: World, *, list_instances: bool) -> tuple[float, float, ReconcileReport]:
    """One pass: its seconds, and the peak growth of this process's memory during it (MB)."""
    if list_instances:
        cache.delete(f"provisioning:instances-listed:{world.cluster.pk}")
    baseline = _rss_mb()
    peak = [baseline]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    report = reconcile_cluster(str(world.cluster.pk), dispatch=_hand_off)
    seconds = time.perf_counter() - began
    sampling.set()
    sampler.join()
    return seconds, peak[0] - baseline, report


def big_cluster(
    world: World, *, nodes: int, pods: int, pending: int, list_instances: bool = False
) -> dict[str, Any]:
    launched = _launch_instances(world, nodes)
    by_instance = _register_nodes(world, launched)
    _record_rows(world, [item["InstanceId"] for item in launched], by_instance)
    # moto draws private IPs at random, so about one run in two gives two of the 5,000 instances
    # the same DNS name and one node fewer registers (AWS never does this); report what registered
    node_names = sorted(by_instance.values())
    create = _pod_maker(world, node_names, pods, pending)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(create, range(pods + pending)))
    # Instance listing (every NODELESS_INSTANCE_LIST_SECONDS, not every pass) is left out of the passes
    # below unless --big-list-instances: moto's DescribeInstances over 5,000 tagged instances takes
    # over a minute, which measures moto, not the pass.
    if not list_instances:
        cache.set(f"provisioning:instances-listed:{world.cluster.pk}", value=True, timeout=3600)
    reconcile_cluster(str(world.cluster.pk), dispatch=_hand_off)  # warm: catalog, role, connections
    _fresh_pods(world, create, pods, pending, batch=1)  # for the measured pass
    settle(world.simulation.process.pid)
    listing_seconds, listing_mb = None, 0.0
    if list_instances:
        listing_seconds, listing_mb, _ = _measured_pass(world, list_instances=True)
        _fresh_pods(world, create, pods, pending, batch=2)  # again for the typical pass
        settle(world.simulation.process.pid)
    seconds, grown_mb, report = _measured_pass(world, list_instances=False)
    return {
        "pods": pods,
        "nodes": len(node_names),
        "pending": pending,
        "seconds": round(seconds, 3),
        "peak_mb": round(max(grown_mb, listing_mb), 1),
        "process_rss_mb": round(_rss_mb(), 1),
        "seconds_with_instance_listing": None if listing_seconds is None else round(listing_seconds, 3),
        "steps": report.steps,
        "bound": report.bound,
        "launched": report.launched,
    }
