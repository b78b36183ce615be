"""Benchmark: one simulated cluster with 5,000 nodes and 50,000 pods, driven by the official client.

Prints one JSON object per line:
- seeding time and memory;
- seconds to list every pod over HTTPS: raw bytes, decoded JSON, typed V1PodList, paged by 500;
- watch events per second delivered to the official client while pods change;
- pods bound per second by the scheduler at this node count;
- peak memory (max RSS) of the process.
Each speed figure comes with a baseline measured in the same run on the same data, and their ratio:
for lists, encoding+decoding the same JSON in-process (the least any JSON API server and client
must do); for watches, the same changes read from the store's in-process watcher (no HTTP).

    .venv/bin/python bench/simulator.py [--nodes 5000] [--pods 50000]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client, watch

from simulator.clock import ScaledClock
from simulator.cluster import ClusterConfig, SimulatedCluster
from simulator.nodes import NodeTemplate, node_object, node_resources
from simulator.resources import NAMESPACES, NODES, PODS


def emit(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pod_body(index: int, node: str, now: str) -> dict[str, Any]:
    name = f"app-{index // 10}-{index % 10}"
    return {
        "metadata": {
            "name": name,
            "labels": {"app": f"app-{index // 10}", "tier": "web" if index % 2 else "worker", "bench": "yes"},
            "annotations": {"nodeless.io/decision": f"d-{index}"},
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example.com/app:1.0",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                }
            ],
        },
        "status": {
            "phase": "Running",
            "podIP": f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}",
            "startTime": now,
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": now}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "image": "registry.example.com/app:1.0",
                    "imageID": "",
                    "containerID": f"containerd://{index:012x}",
                    "state": {"running": {"startedAt": now}},
                }
            ],
        },
    }


def seed(cluster: SimulatedCluster, nodes: int, pods: int) -> None:
    api = cluster.api
    spec = cluster.catalog.instance_type("m5.4xlarge")
    resources = node_resources(spec)
    now = cluster.clock.now()
    for n in range(nodes):
        template = NodeTemplate(
            name=f"ip-10-0-{n // 250}-{n % 250}.ec2.internal",
            resources=resources,
            labels={
                "node.kubernetes.io/instance-type": "m5.4xlarge",
                "topology.kubernetes.io/zone": f"us-east-1{'abc'[n % 3]}",
            },
            internal_ip=f"10.0.{n // 250}.{n % 250}",
        )
        api.create(NODES, "", node_object(template, now))
    node_names = [f"ip-10-0-{n // 250}-{n % 250}.ec2.internal" for n in range(nodes)]
    for namespace in ("bench-a", "bench-b"):
        api.create(NAMESPACES, "", {"metadata": {"name": namespace}})
    timestamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    for index in range(pods):
        api.create(
            PODS,
            "bench-a" if index % 2 else "bench-b",
            pod_body(index, node_names[index % nodes], timestamp),
            keep_status=True,
        )


def timed(function: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def bench_lists(core: Any, cluster: SimulatedCluster) -> None:
    """Every measurement drops its result before the next, so none pays for another's garbage."""
    objects = [s.obj for s in cluster.store.list(PODS).items]
    baseline_seconds, _ = timed(
        lambda: len(json.loads(json.dumps({"kind": "PodList", "items": objects}))["items"])
    )
    # The first list serialises every pod once (cached per revision); later lists reuse the bytes.
    cold_seconds, _ = timed(lambda: len(core.list_pod_for_all_namespaces(_preload_content=False).data))
    emit(figure="server_memory_after_first_list", rss_mb=round(rss_mb()))
    raw_seconds, size = timed(lambda: len(core.list_pod_for_all_namespaces(_preload_content=False).data))
    decoded_seconds, decoded_count = timed(
        lambda: len(json.loads(core.list_pod_for_all_namespaces(_preload_content=False).data)["items"])
    )

    def paged() -> int:
        count, token = 0, None
        while True:
            page = json.loads(
                core.list_pod_for_all_namespaces(limit=500, _continue=token, _preload_content=False).data
            )
            count += len(page["items"])
            token = page["metadata"].get("continue")
            if not token:
                return count

    paged_seconds, paged_count = timed(paged)
    typed_seconds, typed_count = timed(lambda: len(core.list_pod_for_all_namespaces().items))
    assert decoded_count == typed_count == paged_count == len(objects)
    emit(
        figure="list_all_pods",
        pods=len(objects),
        megabytes=round(size / 2**20, 1),
        seconds_raw_first=round(cold_seconds, 3),
        seconds_raw=round(raw_seconds, 3),
        seconds_json=round(decoded_seconds, 3),
        seconds_typed_client=round(typed_seconds, 3),
        seconds_paged_500=round(paged_seconds, 3),
        baseline_json_roundtrip_seconds=round(baseline_seconds, 3),
        ratio_json_to_baseline=round(decoded_seconds / baseline_seconds, 2),
        ratio_typed_to_baseline=round(typed_seconds / baseline_seconds, 2),
    )


def consume_watch(
    core: Any, start_rv: int, count: int, *, deserialize: bool, opened: threading.Event
) -> float:
    """Read `count` events from `start_rv` with the official client; returns the time of the last."""
    stream = watch.Watch().stream(
        core.list_pod_for_all_namespaces,
        resource_version=str(start_rv),
        timeout_seconds=600,
        deserialize=deserialize,
    )
    opened.set()
    for received, _ in enumerate(stream, start=1):
        if received >= count:
            break
    return time.perf_counter()


def bench_watch(core: Any, cluster: SimulatedCluster, changes: int) -> None:
    """Live: a client watches while pods change (can it keep up?). Replay: the same events read
    back from the retained log as fast as the client takes them (typed, then plain JSON)."""
    api = cluster.api
    names = [s.key for s in cluster.store.list(PODS).items[:changes]]
    start_rv = cluster.store.rv
    opened = threading.Event()
    finished: list[float] = []
    consumer = threading.Thread(
        target=lambda: finished.append(
            consume_watch(core, start_rv, changes, deserialize=True, opened=opened)
        ),
        daemon=True,
    )
    consumer.start()
    opened.wait(30)
    started = time.perf_counter()
    for n, (namespace, name) in enumerate(names):

        def relabel(pod: dict[str, Any], revision: str = str(n)) -> None:
            pod["metadata"]["labels"]["revision"] = revision

        api.update(PODS, namespace, name, relabel)
    write_seconds = time.perf_counter() - started
    consumer.join(600)
    live_seconds = finished[0] - started
    replay: dict[str, float] = {}
    for label, deserialize in (("typed", True), ("json", False)):
        begin = time.perf_counter()
        end = consume_watch(core, start_rv, changes, deserialize=deserialize, opened=threading.Event())
        replay[label] = changes / (end - begin)
    watcher = cluster.store.watch(PODS, since_rv=start_rv)
    begin = time.perf_counter()
    in_process = 0
    while in_process < changes:
        in_process += len(watcher.next_batch(1.0))
    baseline = in_process / (time.perf_counter() - begin)
    emit(
        figure="watch",
        changes=changes,
        writes_per_second=round(changes / write_seconds),
        live_events_per_second_typed_client=round(changes / live_seconds),
        replay_events_per_second_typed_client=round(replay["typed"]),
        replay_events_per_second_json=round(replay["json"]),
        baseline_in_process_events_per_second=round(baseline),
        ratio_replay_json_to_in_process=round(replay["json"] / baseline, 4),
    )


def bench_scheduling(core: Any, cluster: SimulatedCluster, count: int) -> None:
    body = {
        "metadata": {"generateName": "pending-"},
        "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "50m"}}}]},
    }
    started = time.perf_counter()
    for _ in range(count):
        cluster.api.create(PODS, "bench-a", json.loads(json.dumps(body)))
    while True:
        unbound = [
            s
            for s in cluster.store.by_index(PODS, "spec.nodeName", "")
            if s.obj["metadata"]["namespace"] == "bench-a"
        ]
        if not unbound:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    emit(
        figure="scheduling",
        nodes=cluster.store.count(NODES),
        pods_bound=count,
        seconds=round(seconds, 2),
        pods_per_second=round(count / seconds, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=50000)
    parser.add_argument("--watch-changes", type=int, default=20000)
    parser.add_argument("--schedule", type=int, default=500)
    args = parser.parse_args()
    cluster = SimulatedCluster(ClusterConfig(name="bench", record_events=False), ScaledClock())
    seed_seconds, _ = timed(lambda: seed(cluster, args.nodes, args.pods))
    # The client runs in this process too: keep the seeded store out of the garbage collector's
    # scans, so the client's decoding is not charged for the server's heap (as in two processes).
    gc.freeze()
    cluster.start()
    emit(
        figure="seed",
        nodes=args.nodes,
        pods=args.pods,
        seconds=round(seed_seconds, 2),
        rss_mb=round(rss_mb()),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as ca:
        ca.write(cluster.ca_pem)
        ca.flush()
        configuration = client.Configuration()
        configuration.host = cluster.url
        configuration.ssl_ca_cert = ca.name
        configuration.api_key = {"authorization": cluster.admin_token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        with client.ApiClient(configuration) as api_client:
            core = client.CoreV1Api(api_client)
            bench_lists(core, cluster)
            bench_watch(core, cluster, args.watch_changes)
            bench_scheduling(core, cluster, args.schedule)
    cluster.stop()
    # The client decodes 50,000 pods in this same process, so the peak includes the client's copies.
    emit(figure="memory", peak_rss_mb_including_client=round(rss_mb()))


if __name__ == "__main__":
    main()
