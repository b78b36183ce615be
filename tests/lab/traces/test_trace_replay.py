"""Trace replay: trace pods become Kubernetes pods at the scaled times, with the trace's requests and
lifetimes; repeating a step creates nothing twice."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from clusters.kube.api import ClusterApi
from lab.tasks import trace_replay_step
from lab.traces import replay as trace_replay
from lab.traces.alibaba import TracePod


def _pod(name: str, created: int, deleted: int | None, gpus: int = 0, spec: tuple[str, ...] = ()) -> TracePod:
    return TracePod(
        name, 2000, 4096, gpus, 1000 if gpus else 0, spec, "LS", "Running", created, deleted, created
    )


def test_the_schedule_keeps_pods_alive_at_the_start_and_scales_times() -> None:
    pods = [
        _pod("old", 0, 5000),
        _pod("gone", 0, 900),
        _pod("later", 1600, 2600),
        _pod("outside", 9000, 9500),
    ]
    items = trace_replay.schedule(pods, start=1000, end=4000, speed=100, namespace="t", trace="x")
    assert [(i.manifest["metadata"]["name"], i.at) for i in items] == [("old", 0.0), ("later", 6.0)]
    old = items[0].manifest
    assert old["metadata"]["annotations"]["sim.nodeless.io/run-seconds"] == "4000"  # what is left of it
    assert old["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "2000m", "memory": "4096Mi"}


def test_gpu_pods_ask_for_whole_gpus_of_the_mapped_models() -> None:
    (item,) = trace_replay.schedule(
        [_pod("g", 0, 100, gpus=1, spec=("T4",))], start=0, end=50, speed=1, namespace="t", trace="x"
    )
    assert item.manifest["spec"]["containers"][0]["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert item.manifest["metadata"]["annotations"]["nodeless.io/gpu-models"] == "T4,T4g"


def test_replayed_pods_run_their_trace_lifetime_in_a_simulated_cluster(
    simulated_cluster, kube_client
) -> None:
    from simulator.controllers.static_nodes import StaticNodePool

    cluster = simulated_cluster(static_pools=(StaticNodePool("n", 2, instance_type="m5.4xlarge"),))
    core = k8s.CoreV1Api(kube_client(cluster))
    api = ClusterApi(kube_client(cluster))
    trace_replay.ensure_namespace(lambda: api, "t")
    items = trace_replay.schedule(
        [_pod("a", 0, 20), _pod("b", 10, 30)], start=0, end=100, speed=100, namespace="t", trace="x"
    )
    assert trace_replay.run(lambda: api, items, stop=lambda: False) == 2
    assert trace_replay.run(lambda: api, items, stop=lambda: False) == 0  # repeated: nothing created twice
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        phases: dict[str | None, str | None] = {}
        for p in core.list_namespaced_pod("t").items:
            assert p.metadata is not None and p.status is not None
            phases[p.metadata.name] = p.status.phase
        if set(phases.values()) == {"Succeeded"}:
            break
        time.sleep(0.1)
    assert phases == {"a": "Succeeded", "b": "Succeeded"}


def test_a_followed_replay_goes_on_window_after_window_and_waits_for_stop(
    simulated_cluster, kube_client
) -> None:
    from simulator.controllers.static_nodes import StaticNodePool

    cluster = simulated_cluster(static_pools=(StaticNodePool("n", 1, instance_type="m5.4xlarge"),))
    core = k8s.CoreV1Api(kube_client(cluster))
    api = ClusterApi(kube_client(cluster))
    trace_replay.ensure_namespace(lambda: api, "t")
    pods = [_pod("first", 10, 50), _pod("second", 150, 250)]  # one in each 100-second window

    def names() -> set[str]:
        return {
            p.metadata.name for p in core.list_namespaced_pod("t").items if p.metadata and p.metadata.name
        }

    common: dict[str, Any] = {"start": 0, "window": 100, "speed": 1000.0, "namespace": "t", "trace": "x"}
    assert trace_replay.replay_windows(lambda: api, pods, stop=threading.Event(), follow=False, **common) == 1
    assert names() == {"first"}  # one window only

    stop = threading.Event()
    replay = threading.Thread(
        target=trace_replay.replay_windows,
        args=(lambda: api, pods),
        kwargs={"stop": stop, "follow": True, **common},
    )
    replay.start()
    deadline = time.monotonic() + 30
    while names() != {"first", "second"} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert names() == {"first", "second"}
    assert replay.is_alive(), "a followed replay keeps running after the trace ends, until stopped"
    stop.set()
    replay.join(10)
    assert not replay.is_alive()


def test_a_replay_outlives_its_credentials_asking_for_the_current_client_each_time(
    simulated_cluster, kube_client
) -> None:
    """The demo's replay runs for days; an EKS token lasts 15 minutes. A refused call (401, as an
    expired token gets) is retried with whatever client `connect` gives next, and nothing is lost."""
    from simulator.controllers.static_nodes import StaticNodePool

    cluster = simulated_cluster(static_pools=(StaticNodePool("n", 1, instance_type="m5.4xlarge"),))
    expired, current = ClusterApi(kube_client(cluster, token="expired")), ClusterApi(kube_client(cluster))
    handed_out: list[ClusterApi] = []

    def connect() -> ClusterApi:
        # The credentials are refreshed after the first refusal, as the product's cache does.
        handed_out.append(expired if not handed_out else current)
        return handed_out[-1]

    trace_replay.ensure_namespace(lambda: current, "t")
    items = trace_replay.schedule(
        [_pod("a", 0, 20), _pod("b", 0, 20)], start=0, end=100, speed=100, namespace="t", trace="x"
    )
    pauses: list[float] = []
    assert trace_replay.run(connect, items, stop=lambda: False, sleep=pauses.append) == 2
    assert handed_out[0] is expired and pauses == [trace_replay.RETRY_PAUSE_SECONDS]
    names = {pod["metadata"]["name"] for pod in current.list("Pod", namespace="t")}
    assert names == {"a", "b"}


def test_a_stopped_replay_gives_up_waiting_for_an_unreachable_cluster(simulated_cluster, kube_client) -> None:
    cluster = simulated_cluster()
    refused = ClusterApi(kube_client(cluster, token="revoked"))
    (item,) = trace_replay.schedule([_pod("a", 0, 20)], start=0, end=100, speed=100, namespace="t", trace="x")
    stop = threading.Event()
    assert trace_replay.run(lambda: refused, [item], stop=stop.is_set, sleep=lambda _: stop.set()) == 0


@pytest.mark.django_db
def test_a_task_step_creates_the_due_pods_once(
    cast, simulated_cluster, owner_client, tmp_path, worker
) -> None:
    from simulator.controllers.static_nodes import StaticNodePool
    from tests.fixtures.connections import kubeconfig_for

    sim = simulated_cluster(static_pools=(StaticNodePool("n", 1, instance_type="m5.xlarge"),))
    with worker.committing():
        cluster_id = owner_client.post(
            "/api/v1/clusters/",
            {"name": "dc", "kubeconfig": kubeconfig_for(sim)},
            content_type="application/json",
        ).json()["id"]
    worker.run()
    trace = tmp_path / "trace.csv"
    trace.write_text(
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
        "scheduled_time\np-1,100,128,0,0,,LS,Running,0,100,0\np-2,100,128,0,0,,LS,Running,5,100,5\n"
    )
    started = time.time() - 60  # a minute into the replay: both are due
    assert trace_replay_step.run(cluster_id, str(trace), 0, 1.0, 1.0, started, 0.0) == 2
    assert trace_replay_step.run(cluster_id, str(trace), 0, 1.0, 1.0, started, 0.0) == 0


def test_a_cluster_clock_at_real_time_gets_lifetimes_compressed_by_the_replay_speed() -> None:
    """The demo's clusters run at real time while the trace plays 100x: a pod of 1,000 trace seconds
    runs 10 seconds of the cluster's clock, created at its scaled moment."""
    pods = [_pod("a", 0, 1000), _pod("b", 500, 700)]
    fast = trace_replay.schedule(pods, start=0, end=1000, speed=100, namespace="t", trace="x")
    real = trace_replay.schedule(pods, start=0, end=1000, speed=100, namespace="t", trace="x", clock_speed=1)
    run_seconds = trace_replay.RUN_SECONDS_ANNOTATION
    assert [item.manifest["metadata"]["annotations"][run_seconds] for item in fast] == ["1000", "200"]
    assert [item.manifest["metadata"]["annotations"][run_seconds] for item in real] == ["10", "2"]
    assert [item.at for item in real] == [item.at for item in fast] == [0.0, 5.0]
    with pytest.raises(ValueError):
        trace_replay.schedule(pods, start=0, end=1, speed=100, namespace="t", trace="x", clock_speed=0)
