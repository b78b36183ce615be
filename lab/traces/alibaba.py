"""Pods of the Alibaba OpenB GPU trace (data/traces/alibaba-gpu-v2023) as planner pod requests.

A pod asks for `num_gpu` whole GPUs; a fractional `gpu_milli` share of one GPU becomes
`gpu_share_milli`, which the planner counts as one whole GPU unless the policy allows GPU
sharing. The trace's GPU models map to AWS GPU models through `GPU_SPEC_TO_AWS_MODELS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from clusters.pricing.csvfiles import DEFAULT_DATA_DIR, as_int, read_rows
from engines.kube.labels import ARCH
from engines.kube.resources import Resources
from engines.planner.types import PodRequest

DEFAULT_TRACE = DEFAULT_DATA_DIR / "traces" / "alibaba-gpu-v2023" / "openb_pod_list_default.csv"

# Every GPU in the trace's cluster is an NVIDIA one, and its pods are CUDA workloads, so a pod
# may only use NVIDIA GPUs on AWS (not Habana Gaudi or AMD Radeon).
NVIDIA_AWS_MODELS = frozenset(
    {"T4", "T4g", "A10G", "L4", "L40S", "V100", "A100", "H100", "H200", "B200", "B300", "RTX PRO Server 6000"}
)
# Trace GPU model -> the AWS GPU models a pod asking for it may use. Models AWS sells map to
# themselves (V100 -> p3/p3dn, T4 -> g4dn and the Graviton g5g's T4g, A10 -> g5's A10G). AWS
# sells no P100, so a P100 pod may use the 16 GB+ data-centre GPUs of the next generations
# (T4, V100, A10G, L4). G1-G3 are undisclosed in the trace: any NVIDIA GPU.
GPU_SPEC_TO_AWS_MODELS: Mapping[str, frozenset[str]] = {
    "V100M16": frozenset({"V100"}),
    "V100M32": frozenset({"V100"}),
    "T4": frozenset({"T4", "T4g"}),
    "A10": frozenset({"A10G"}),
    "P100": frozenset({"T4", "V100", "A10G", "L4"}),
    "G1": NVIDIA_AWS_MODELS,
    "G2": NVIDIA_AWS_MODELS,
    "G3": NVIDIA_AWS_MODELS,
}


@dataclass(frozen=True, slots=True)
class TracePod:
    """One row of an OpenB pod list; times are seconds from the start of the trace."""

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...]
    qos: str
    phase: str
    creation_time: int
    deletion_time: int | None
    scheduled_time: int | None

    def alive_at(self, moment: int) -> bool:
        return self.creation_time <= moment and (self.deletion_time is None or moment < self.deletion_time)


def read_alibaba_pods(path: Path = DEFAULT_TRACE) -> list[TracePod]:
    pods = []
    for row in read_rows(path):
        deletion, scheduled = row.get("deletion_time", ""), row.get("scheduled_time", "")
        pods.append(
            TracePod(
                name=row["name"],
                cpu_milli=as_int(row["cpu_milli"]),
                memory_mib=as_int(row["memory_mib"]),
                num_gpu=as_int(row["num_gpu"]),
                gpu_milli=as_int(row["gpu_milli"]),
                gpu_spec=tuple(s for s in row.get("gpu_spec", "").split("|") if s),
                qos=row.get("qos", ""),
                phase=row.get("pod_phase", ""),
                creation_time=as_int(row.get("creation_time", "")),
                deletion_time=as_int(deletion) if deletion.strip() else None,
                scheduled_time=as_int(scheduled) if scheduled.strip() else None,
            )
        )
    return pods


def busiest_moment(pods: Iterable[TracePod]) -> int:
    """The first moment at which the most pods are alive (alive = created, not yet deleted)."""
    events: list[tuple[int, int]] = []
    for pod in pods:
        events.append((pod.creation_time, 1))
        if pod.deletion_time is not None:
            events.append((pod.deletion_time, -1))
    # At equal times deletions come first: a pod deleted at t is no longer alive at t.
    events.sort()
    alive, best, moment = 0, -1, 0
    for time, change in events:
        alive += change
        if alive > best:
            best, moment = alive, time
    return moment


def alive_at(pods: Iterable[TracePod], moment: int) -> list[TracePod]:
    return [pod for pod in pods if pod.alive_at(moment)]


def aws_gpu_models(gpu_spec: tuple[str, ...]) -> frozenset[str]:
    """The AWS GPU models a pod may use: the union over its listed trace models, any NVIDIA
    model when the trace lists none."""
    if not gpu_spec:
        return NVIDIA_AWS_MODELS
    return frozenset().union(*(GPU_SPEC_TO_AWS_MODELS.get(spec, NVIDIA_AWS_MODELS) for spec in gpu_spec))


def trace_pod_request(
    pod: TracePod, namespace: str = "alibaba", architecture: str | None = "amd64"
) -> PodRequest:
    """The pod as the planner sees it. The trace ran x86 servers, so by default its pods keep
    to `architecture` (their images are not known to run on arm64); None lifts that."""
    share = pod.gpu_milli if pod.num_gpu == 1 and 0 < pod.gpu_milli < 1000 else 0
    whole_gpus = 0 if share else pod.num_gpu
    wants_gpu = bool(share or whole_gpus)
    return PodRequest(
        uid=pod.name,
        name=pod.name,
        namespace=namespace,
        requests=Resources(cpu_millis=pod.cpu_milli, memory_mib=pod.memory_mib, gpus=whole_gpus),
        labels={"qos": pod.qos} if pod.qos else {},
        gpu_models=aws_gpu_models(pod.gpu_spec) if wants_gpu else frozenset(),
        gpu_share_milli=share,
        node_selector={ARCH: architecture} if architecture else {},
    )
