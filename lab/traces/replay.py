"""Replaying a production trace (Alibaba OpenB format) into a simulated cluster, faster than real time.

Each trace pod becomes a Kubernetes pod created at `(creation_time - start) / speed` seconds after the
replay starts, asking for the trace's CPU, memory and GPUs, and annotated to finish after its trace
lifetime (`sim.nodeless.io/run-seconds`, in the simulated cluster's clock, which runs `speed` times
faster too). Pods alive when the replay starts are created at once with their remaining lifetime.
Creating a pod that exists is skipped, so a replay (or one step of it) can be repeated safely.
The `core` arguments are the official client's CoreV1Api, used with plain dict manifests (which it
accepts at run time although its annotations ask for model objects).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from engines.kube.labels import GPU_MODELS_ANNOTATION
from lab.kubeclient import drain
from lab.traces.alibaba import TracePod, aws_gpu_models

RUN_SECONDS_ANNOTATION = "sim.nodeless.io/run-seconds"
TRACE_LABEL = "nodeless.io/trace"


@dataclass(frozen=True)
class ScheduledPod:
    at: float  # seconds after the replay starts
    manifest: dict[str, Any]


def _dns_name(name: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:63]


def manifest(pod: TracePod, *, start: int, namespace: str, trace: str) -> dict[str, Any]:
    created = max(pod.creation_time, start)
    lifetime = (pod.deletion_time - created) if pod.deletion_time is not None else 365 * 86400
    gpus = pod.num_gpu if pod.num_gpu else 0
    requests: dict[str, str] = {"cpu": f"{max(pod.cpu_milli, 1)}m", "memory": f"{max(pod.memory_mib, 1)}Mi"}
    annotations = {RUN_SECONDS_ANNOTATION: str(max(lifetime, 1))}
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
    pods: Iterable[TracePod], *, start: int, end: int, speed: float, namespace: str, trace: str
) -> list[ScheduledPod]:
    """The pods alive at `start` (created at once) and those created before `end`, in order."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    out = []
    for pod in pods:
        if pod.creation_time >= end or (pod.deletion_time is not None and pod.deletion_time <= start):
            continue
        out.append(
            ScheduledPod(
                max(pod.creation_time - start, 0) / speed,
                manifest(pod, start=start, namespace=namespace, trace=trace),
            )
        )
    out.sort(key=lambda item: item.at)
    return out


def create(core: Any, item: ScheduledPod) -> bool:
    """Create one pod; False if it already exists (a repeated step)."""
    try:
        drain(
            core.create_namespaced_pod(
                item.manifest["metadata"]["namespace"], item.manifest, _preload_content=False
            )
        )
    except ApiException as error:
        if error.status == 409:
            return False
        raise
    return True


def ensure_namespace(core: Any, namespace: str) -> None:
    try:
        drain(
            core.create_namespace(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                _preload_content=False,
            )
        )
    except ApiException as error:
        if error.status != 409:
            raise


def due(items: list[ScheduledPod], *, elapsed_from: float, elapsed_to: float) -> list[ScheduledPod]:
    """The pods whose creation falls in [elapsed_from, elapsed_to) seconds after the start."""
    return [item for item in items if elapsed_from <= item.at < elapsed_to]


def run(
    core: Any,
    items: list[ScheduledPod],
    *,
    stop: Callable[[], bool],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Create each pod at its time until done or `stop()`; returns how many were created."""
    began, created = clock(), 0
    for item in items:
        while not stop() and clock() - began < item.at:
            sleep(min(0.5, item.at - (clock() - began)))
        if stop():
            break
        created += create(core, item)
    return created


def replay_windows(
    core: Any,
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
) -> int:
    """Replay `window` trace seconds from `start`; with `follow`, go on window after window (each
    taking its full scaled time, so the trace's quiet spells stay quiet) and, when the trace ends,
    wait for `stop` — a demo that keeps running must not lose its replay. Returns pods created."""
    trace_end = max((pod.deletion_time or pod.creation_time) for pod in pods)
    created = 0
    while not stop.is_set() and start < trace_end:
        began = time.monotonic()
        items = schedule(pods, start=start, end=start + window, speed=speed, namespace=namespace, trace=trace)
        announce(len(items), start, start + window)
        created += run(core, items, stop=stop.is_set)
        if not follow:
            return created
        stop.wait(max(0.0, began + window / speed - time.monotonic()))
        start += window
    if follow:
        stop.wait()
    return created
