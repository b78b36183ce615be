"""Replaying a production trace (Alibaba OpenB format) into a simulated cluster, faster than real time.

Each trace pod becomes a Kubernetes pod created at `(creation_time - start) / speed` seconds after the
replay starts, asking for the trace's CPU, memory and GPUs, and annotated to finish after its trace
lifetime (`sim.nodeless.io/run-seconds`, in the simulated cluster's clock). By default that clock
runs `speed` times faster too; a cluster whose clock runs at `clock_speed` (the demo's, at real
time, so pods' ages read true in kubectl) gets lifetimes compressed by `speed / clock_speed`.
Pods alive when the replay starts are created at once with their remaining lifetime.
Creating a pod that exists is skipped, so a replay (or one step of it) can be repeated safely.

A replay runs for days in the demo, so it never keeps a client: `connect` is asked for the
cluster's current one before every call (the product's `cluster_api`, which hands out a new client
when an EKS token is refreshed or the kubeconfig changes). A call the cluster does not answer
(unreachable, or credentials refused for the moment) is retried with a fresh client after a pause,
and a replay that is stopped while waiting simply ends.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from clusters.kube.api import KINDS, ClusterApi, ClusterRefused, ClusterUnreachable
from engines.kube.labels import GPU_MODELS_ANNOTATION
from lab.traces.alibaba import TracePod, aws_gpu_models

RUN_SECONDS_ANNOTATION = "sim.nodeless.io/run-seconds"
TRACE_LABEL = "nodeless.io/trace"
RETRY_PAUSE_SECONDS = 2.0

Connect = Callable[[], ClusterApi]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledPod:
    at: float  # seconds after the replay starts
    manifest: dict[str, Any]


def _dns_name(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:63]


def manifest(
    pod: TracePod, *, start: int, namespace: str, trace: str, compress: float = 1.0
) -> dict[str, Any]:
    created = max(pod.creation_time, start)
    lifetime = (pod.deletion_time - created) / compress if pod.deletion_time is not None else 365 * 86400
    gpus = pod.num_gpu if pod.num_gpu else 0
    requests: dict[str, str] = {"cpu": f"{max(pod.cpu_milli, 1)}m", "memory": f"{max(pod.memory_mib, 1)}Mi"}
    annotations = {RUN_SECONDS_ANNOTATION: str(max(round(lifetime), 1))}
    if gpus:
        requests["nvidia.com/gpu"] = str(gpus)
        annotations[GPU_MODELS_ANNOTATION] = ",".join(sorted(aws_gpu_models(pod.gpu_spec)))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": _dns_name(pod.name),
            "namespace": namespace,
            "labels": {TRACE_LABEL: trace, "qos": pod.qos.lower() or "none"},
            "annotations": annotations,
        },
        "spec": {
            "restartPolicy": "Never",
            # The trace ran on x86 servers; its images are not known to run on arm64.
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
            "containers": [
                {"name": "main", "image": "registry.example/trace-job:1", "resources": {"requests": requests}}
            ],
        },
    }


def schedule(
    pods: Iterable[TracePod],
    *,
    start: int,
    end: int,
    speed: float,
    namespace: str,
    trace: str,
    clock_speed: float | None = None,
) -> list[ScheduledPod]:
    """The pods alive at `start` (created at once) and those created before `end`, in order.
    `clock_speed`: how fast the cluster's clock runs (default: as fast as the replay)."""
    if speed <= 0 or (clock_speed is not None and clock_speed <= 0):
        raise ValueError("speed must be positive")
    compress = 1.0 if clock_speed is None else speed / clock_speed
    out = []
    for pod in pods:
        if pod.creation_time >= end or (pod.deletion_time is not None and pod.deletion_time <= start):
            continue
        out.append(
            ScheduledPod(
                max(pod.creation_time - start, 0) / speed,
                manifest(pod, start=start, namespace=namespace, trace=trace, compress=compress),
            )
        )
    out.sort(key=lambda item: item.at)
    return out


def create(connect: Connect, item: ScheduledPod) -> bool:
    """Create one pod; False if it already exists (a repeated step)."""
    namespace = item.manifest["metadata"]["namespace"]
    try:
        connect().request("POST", KINDS["Pod"].path(namespace), body=item.manifest)
    except ClusterRefused as refused:
        if refused.status == 409:
            return False
        raise
    return True


def ensure_namespace(connect: Connect, namespace: str) -> None:
    try:
        connect().request(
            "POST",
            KINDS["Namespace"].path(),
            body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
    except ClusterRefused as refused:
        if refused.status != 409:
            raise


def create_patiently(
    connect: Connect, item: ScheduledPod, *, stop: Callable[[], bool], sleep: Callable[[float], object]
) -> bool:
    """`create`, retried with a fresh client while the cluster does not answer (a long replay
    outlives tokens and network blips); False when stopped before it could."""
    while not stop():
        try:
            return create(connect, item)
        except ClusterUnreachable as error:
            logger.warning("trace replay: %s; retrying in %.0f s", error, RETRY_PAUSE_SECONDS)
            sleep(RETRY_PAUSE_SECONDS)
    return False


def due(items: list[ScheduledPod], *, elapsed_from: float, elapsed_to: float) -> list[ScheduledPod]:
    """The pods whose creation falls in [elapsed_from, elapsed_to) seconds after the start."""
    return [item for item in items if elapsed_from <= item.at < elapsed_to]


def run(
    connect: Connect,
    items: list[ScheduledPod],
    *,
    stop: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> int:
    """Create each pod at its time until done or `stop()`; returns how many were created."""
    began, created = clock(), 0
    for item in items:
        while not stop() and clock() - began < item.at:
            sleep(min(0.5, item.at - (clock() - began)))
        if stop():
            break
        created += create_patiently(connect, item, stop=stop, sleep=sleep)
    return created


def replay_windows(
    connect: Connect,
    pods: list[TracePod],
    *,
    start: int,
    window: int,
    speed: float,
    namespace: str,
    trace: str,
    stop: threading.Event,
    follow: bool,
    announce: Callable[[int, int, int], None] = lambda count, first, last: None,
    clock_speed: float | None = None,
) -> int:
    """Replay `window` trace seconds from `start`; with `follow`, go on window after window (each
    taking its full scaled time, so the trace's quiet spells stay quiet) and, when the trace ends,
    wait for `stop` — a demo that keeps running must not lose its replay. Returns pods created."""
    trace_end = max((pod.deletion_time or pod.creation_time) for pod in pods)
    created = 0
    while not stop.is_set() and start < trace_end:
        began = time.monotonic()
        items = schedule(
            pods,
            start=start,
            end=start + window,
            speed=speed,
            namespace=namespace,
            trace=trace,
            clock_speed=clock_speed,
        )
        announce(len(items), start, start + window)
        created += run(connect, items, stop=stop.is_set, sleep=stop.wait)
        if not follow:
            return created
        stop.wait(max(0.0, began + window / speed - time.monotonic()))
        start += window
    if follow:
        stop.wait()
    return created
