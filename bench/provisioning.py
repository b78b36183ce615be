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
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from django.db import connection, connections
from django.utils import timezone
from kubernetes import client as k8s
from kubernetes.watch.watch import iter_resp_lines

from bench.provisioning_big import big_cluster
from bench.provisioning_world import Simulation, World, emit, percentile
from clusters.kube.access import cluster_api, usable_credentials
from clusters.kube.client import api_client
from clusters.kube.kubeconfig import KubeCredentials
from clusters.models import Cluster, ManagedNode
from clusters.observation.informers import stop_all_informers
from lab.kubeclient import drain
from workers.provisioning import watcher as watching
from workers.provisioning.context import build_launch_context
from workers.provisioning.launching import launch_row
from workers.provisioning.reconcile import reconcile_cluster


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
    cluster = Cluster.objects.select_related("organization", "cloud_account").get(pk=world.cluster.pk)
    watcher = watching.ClusterWatcher(str(cluster.pk), lambda: cluster_api(cluster), batcher)
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
    node_times: dict[str, tuple[float | None, float | None]] = {}  # pod → its node's launch and Ready
    for row in ManagedNode.objects.filter(cluster=world.cluster).exclude(launch_requested_at=None):
        assert row.launch_requested_at is not None  # excluded above
        for key in row.launched_for:
            launch[key.split("/", 1)[1]] = row.launch_requested_at.timestamp()
            node_times[key.split("/", 1)[1]] = (
                row.launched_at.timestamp() if row.launched_at else None,
                row.ready_at.timestamp() if row.ready_at else None,
            )
    if os.environ.get("BENCH_TRACE"):
        origin = min(created.values())
        for name in sorted(created, key=lambda n: running.get(n, 1e18) - created[n]):
            launched, ready = node_times.get(name, (None, None))
            print(
                f"pod {name} created +{created[name] - origin:.2f} launch "
                f"{launch.get(name, float('nan')) - created[name]:.2f} "
                f"launched {(launched or float('nan')) - created[name]:.2f} "
                f"ready {(ready or float('nan')) - created[name]:.2f} "
                f"running {running.get(name, float('nan')) - created[name]:.2f}",
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
                    stop_all_informers()  # the product's watches on the clusters stop before they do
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
                    stop_all_informers()
                    simulation.stop()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
