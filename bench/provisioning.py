"""Benchmark of the provisioning loop against the simulated cloud and cluster, through the product path
(watch → batch → reconcile → planner → CreateFleet → node → Binding), one JSON object per line:

- `reaction`: 100 pods created in a cluster with zero boot delay; seconds from each pod's creation to the
  launch request for its node and to the pod Running (p50/p95). The pods are created one after the other
  and watched from a separate process (the user's side, like kubectl), after an untimed warm-up round on
  another cluster. The baseline printed beside it is the same loop with Karpenter's batching windows
  (1 s idle, 10 s max), measured in the same run.
- `big-cluster`: one reconcile of a cluster with 5,000 managed nodes and 50,000 running pods, plus 200
  fresh pending pods that only a new m5.large node may take (so the pass plans and launches for them):
  seconds, and the peak growth of this process's resident memory during the pass (the simulated cluster
  and cloud run in their own process, as a customer's would). The nodes are registered through the API
  as kubelets would register them.

Celery is left out: the watcher calls the reconcile directly, as a worker would on receiving the task
(with Redis as the broker, queueing adds a few milliseconds).

    make bench-provisioning            # PostgreSQL + Redis on 127.0.0.1 (uses a throw-away database)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
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

import boto3  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.utils import timezone  # noqa: E402
from kubernetes import client as k8s  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.watch.watch import iter_resp_lines  # noqa: E402

from clusters import services as cluster_services  # noqa: E402
from clusters.kube.access import cluster_api_client, usable_credentials  # noqa: E402
from clusters.kube.client import api_client  # noqa: E402
from clusters.kube.kubeconfig import KubeCredentials  # noqa: E402
from clusters.models import Cluster, ManagedNode, NodeState  # noqa: E402
from clusters.onboarding.aws import eks_tokens  # noqa: E402
from clusters.onboarding.cloudformation import required_iam_actions  # noqa: E402
from clusters.simulator.catalog import load_catalog  # noqa: E402
from clusters.simulator.cloud.onboarding import onboard_customer  # noqa: E402
from clusters.simulator.controllers.cloud_nodes import INSTANCE_ID_ANNOTATION  # noqa: E402
from clusters.simulator.descriptor import load_descriptor  # noqa: E402
from clusters.simulator.nodes import NodeTemplate, node_object, node_resources  # noqa: E402
from policies import services as policy_services  # noqa: E402
from tenants import services as tenant_services  # noqa: E402
from tenants.actors import Actor  # noqa: E402
from workers.provisioning import watcher as watching  # noqa: E402
from workers.provisioning.context import build_launch_context  # noqa: E402
from workers.provisioning.kube import drain  # noqa: E402
from workers.provisioning.launching import launch_row  # noqa: E402
from workers.provisioning.reconcile import reconcile_cluster  # noqa: E402

CLIENT_REFRESH_SECONDS = 300
INSTANCE_TYPE = "m5.4xlarge"
PENDING_INSTANCE_TYPE = "m5.large"
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
        self.cluster = cluster_services.cluster_import_eks(
            organization,
            actor=actor,
            account=account,
            region="us-east-1",
            eks_cluster_name=cluster_name,
            mode="nodeless",
        )
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


def reaction(world: World, *, pods: int, idle: float, max_window: float) -> dict[str, Any]:
    reconcile_cluster(str(world.cluster.pk))  # a warm worker: catalog loaded, role assumed
    # Stand-ins for Celery workers: launch tasks run in other processes, as `provisioning_launch` does.
    connections.close_all()
    launchers = ProcessPoolExecutor(
        max_workers=4, mp_context=multiprocessing.get_context("fork"), initializer=connections.close_all
    )
    list(launchers.map(_warm_launcher, [str(world.cluster.pk)] * 4))

    def dispatch(row_ids: list[str]) -> None:
        for row_id in row_ids:
            launchers.submit(_launch, row_id)

    def trigger(cluster_id: str) -> None:
        try:
            outcome = reconcile_cluster(cluster_id, dispatch=dispatch)
            if os.environ.get("BENCH_TRACE"):
                print(
                    f"pass {time.time():.2f} {outcome.outcome} {outcome.seconds:.2f}s launched={outcome.launched} bound={outcome.bound} {outcome.steps}",
                    file=sys.stderr,
                )
            if outcome.outcome == "busy":
                batcher.mark(cluster_id)  # what the Celery task does: run again after the current pass
        finally:
            connections.close_all()

    batcher = watching.Batcher(trigger, idle=idle, max_window=max_window)
    batcher.start()
    watcher = watching.ClusterWatcher(str(world.cluster.pk), cluster_api_client(world.cluster), batcher)
    watcher.start()
    time.sleep(1.0)  # let the watches connect
    # The user's side (creating the pods, seeing them run) is its own process, as kubectl would be:
    # in this one it would compete with the control plane under test for the interpreter.
    # Spawned: forking a process that runs threads (the watcher, the batcher) can copy a held lock.
    results: Any = multiprocessing.get_context("spawn").SimpleQueue()
    user = multiprocessing.get_context("spawn").Process(
        target=_user_side, args=(usable_credentials(world.cluster), pods, results)
    )
    user.start()
    created, running = results.get()
    user.join()
    watcher.stop()
    batcher.stop()
    launchers.shutdown(wait=True)
    launch: dict[str, float] = {}
    for row in ManagedNode.objects.filter(cluster=world.cluster).exclude(launch_requested_at=None):
        assert row.launch_requested_at is not None  # excluded above
        for key in row.launched_for:
            launch[key.split("/", 1)[1]] = row.launch_requested_at.timestamp()
    if os.environ.get("BENCH_TRACE"):
        origin = min(created.values())
        for name in sorted(created, key=lambda n: running.get(n, 1e18) - created[n]):
            print(
                f"pod {name} created +{created[name] - origin:.2f} launch "
                f"{launch.get(name, float('nan')) - created[name]:.2f} running {running.get(name, float('nan')) - created[name]:.2f}",
                file=sys.stderr,
            )
        for row in ManagedNode.objects.filter(cluster=world.cluster).order_by("launch_requested_at"):
            stamps = [row.launch_requested_at, row.launched_at, row.ready_at]
            print(
                "node",
                row.instance_type,
                len(row.launched_for),
                " ".join(f"{stamp.timestamp() - origin:.2f}" if stamp else "-" for stamp in stamps),
                file=sys.stderr,
            )
    to_launch = [launch[name] - created[name] for name in created if name in launch]
    to_running = [running[name] - created[name] for name in created if name in running]
    return {
        "pods": pods,
        "launched_nodes": ManagedNode.objects.filter(cluster=world.cluster).count(),
        "pods_with_a_launch": len(to_launch),
        "running": len(to_running),
        "launch_p50": round(statistics.median(to_launch), 3),
        "launch_p95": round(percentile(to_launch, 0.95), 3),
        "running_p50": round(statistics.median(to_running), 3),
        "running_p95": round(percentile(to_running, 0.95), 3),
    }


def _pod(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"r{index}"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "resources": {
                        "requests": {
                            "cpu": f"{250 + 250 * (index % 4)}m",
                            "memory": f"{256 * (1 + index % 3)}Mi",
                        }
                    },
                }
            ]
        },
    }


def _user_side(credentials: KubeCredentials, pods: int, results: Any) -> None:
    """Create the pods one after the other and note when each is first seen Running (from a watch,
    which costs the API server far less than listing every few milliseconds)."""
    core: Any = k8s.CoreV1Api(api_client(credentials))
    version = json.loads(core.list_namespaced_pod("default", _preload_content=False).data)["metadata"][
        "resourceVersion"
    ]
    created: dict[str, float] = {}
    running: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        stream = core.list_namespaced_pod(
            "default", watch=True, resource_version=version, timeout_seconds=180, _preload_content=False
        )
        for line in iter_resp_lines(stream):
            pod = json.loads(line)["object"]
            if pod.get("status", {}).get("phase") == "Running":
                running.setdefault(pod["metadata"]["name"], time.time())
                if len(running) >= pods:
                    break
        done.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    for index in range(pods):
        created[f"r{index}"] = time.time()
        drain(core.create_namespaced_pod("default", _pod(index), _preload_content=False))
    done.wait(180)
    results.put((created, running))


def _warm_launcher(cluster_id: str) -> None:
    """Make this process a warm worker (its cloud clients built, as a Celery worker's are after its
    first task); the pause spreads the four warm-ups over the four processes."""
    try:
        cluster = Cluster.objects.select_related("organization", "cloud_account").get(pk=cluster_id)
        build_launch_context(cluster, timezone.now(), "")
        time.sleep(0.3)
    finally:
        connections.close_all()


def _launch(row_id: str) -> None:
    began = time.time()
    try:
        launch_row(row_id)
    finally:
        connections.close_all()
    if os.environ.get("BENCH_TRACE"):
        print(f"launch_row {began:.2f} took {time.time() - began:.2f}s", file=sys.stderr)


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


def big_cluster(
    world: World, *, nodes: int, pods: int, pending: int, list_instances: bool = False
) -> dict[str, Any]:
    aws = world.simulation.descriptor.aws
    assert aws is not None
    admin = boto3.Session(
        aws_access_key_id=aws.customer_admin_access_key_id,
        aws_secret_access_key=aws.customer_admin_secret_access_key,
        aws_session_token=aws.customer_admin_session_token or None,
        region_name=aws.region,
    )
    ec2: Any = admin.client("ec2", endpoint_url=aws.endpoint_url)
    name = world.cluster.eks_cluster_name
    launched: list[dict[str, Any]] = []
    for start in range(0, nodes, 500):
        count = min(500, nodes - start)
        launched += ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType=INSTANCE_TYPE,
            MinCount=count,
            MaxCount=count,
            Placement={"AvailabilityZone": "us-east-1a"},
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": f"kubernetes.io/cluster/{name}", "Value": "owned"},
                        {"Key": "nodeless.io/cluster", "Value": str(world.cluster.pk)},
                        {"Key": "nodeless.io/managed-by", "Value": "nodeless"},
                    ],
                }
            ],
        )["Instances"]
    instances = [item["InstanceId"] for item in launched]
    # The nodes are registered here, as kubelets would register them, rather than waiting for the
    # simulator's cloud poller (built for tens of nodes, it takes many minutes for thousands).
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
    by_instance = {n["spec"].get("providerID", "").rsplit("/", 1)[-1]: n["metadata"]["name"] for n in listed}
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
    # moto draws private IPs at random, so about one run in two gives two of the 5,000 instances
    # the same DNS name and one node fewer registers (AWS never does this); report what registered
    node_names = sorted(by_instance.values())

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

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(create, range(pods + pending)))
    # Instance listing (every NODELESS_INSTANCE_LIST_SECONDS, not every pass) is left out of the passes
    # below unless --big-list-instances: moto's DescribeInstances over 5,000 tagged instances takes
    # over a minute, which measures moto, not the pass.
    listed_key = f"provisioning:instances-listed:{world.cluster.pk}"
    if not list_instances:
        cache.set(listed_key, value=True, timeout=3600)

    # Launches are handed off as the Celery task hands them to launch tasks (see `reaction`).
    def hand_off(row_ids: list[str]) -> None:
        pass

    reconcile_cluster(str(world.cluster.pk), dispatch=hand_off)  # warm: catalog, role, connections

    def fresh_pods(batch: int) -> None:
        """Create a batch of pending pods and wait until the simulator's scheduler has given up on
        them (PodScheduled=False): a real kube-scheduler runs beside the API server, but the
        simulator's shares its interpreter, and checking 200 pods against 5,000 nodes would be
        timed as part of the pass."""
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

    fresh_pods(1)  # for the measured pass
    settle(world.simulation.process.pid)

    def measured_pass(list_instances: bool) -> tuple[float, float, Any]:
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
        report = reconcile_cluster(str(world.cluster.pk), dispatch=hand_off)
        seconds = time.perf_counter() - began
        sampling.set()
        sampler.join()
        return seconds, peak[0] - baseline, report

    listing_seconds, listing_mb = None, 0.0
    if list_instances:
        listing_seconds, listing_mb, _ = measured_pass(list_instances=True)
        fresh_pods(2)  # again for the typical pass
        settle(world.simulation.process.pid)
    seconds, grown_mb, report = measured_pass(list_instances=False)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=["all", "reaction", "big-cluster"], default="all")
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument(
        "--warmup-pods", type=int, default=20, help="an untimed round on a third cluster first (0: none)"
    )
    parser.add_argument("--big-nodes", type=int, default=5000)
    parser.add_argument("--big-pods", type=int, default=50000)
    parser.add_argument(
        "--big-list-instances", action="store_true", help="also time a pass that lists instances"
    )
    args = parser.parse_args()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        if args.case in ("all", "reaction"):
            with tempfile.TemporaryDirectory() as workdir:
                simulation = Simulation(Path(workdir), clusters=3)
                try:
                    names = [c.name for c in simulation.descriptor.clusters]
                    if args.warmup_pods:
                        # Untimed: the simulated cloud's first calls for an account set up moto's
                        # backends and clients (a second or more), which real EC2 never charges.
                        reaction(
                            World(simulation, names[2]),
                            pods=args.warmup_pods,
                            idle=watching.IDLE_SECONDS,
                            max_window=watching.MAX_WINDOW_SECONDS,
                        )
                    ours = reaction(
                        World(simulation, names[0]),
                        pods=args.pods,
                        idle=watching.IDLE_SECONDS,
                        max_window=watching.MAX_WINDOW_SECONDS,
                    )
                    karpenter = reaction(
                        World(simulation, names[1]), pods=args.pods, idle=1.0, max_window=10.0
                    )
                finally:
                    simulation.stop()
            emit(
                case="reaction",
                **ours,
                baseline="karpenter batching (1 s idle, 10 s max)",
                baseline_launch_p95=karpenter["launch_p95"],
                baseline_running_p95=karpenter["running_p95"],
                ratio_launch_p95=round(ours["launch_p95"] / karpenter["launch_p95"], 3),
            )
        if args.case in ("all", "big-cluster"):
            with tempfile.TemporaryDirectory() as workdir:
                simulation = Simulation(Path(workdir), clusters=1)
                try:
                    world = World(simulation, simulation.descriptor.clusters[0].name)
                    emit(
                        case="big-cluster",
                        **big_cluster(
                            world,
                            nodes=args.big_nodes,
                            pods=args.big_pods,
                            pending=200,
                            list_instances=args.big_list_instances,
                        ),
                    )
                finally:
                    simulation.stop()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
