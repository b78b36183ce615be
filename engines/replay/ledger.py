"""A cluster's recorded period as replay pods, and what a replay of it shows next to the record.

The usage ledger keeps, per metered interval, each workload's pod-seconds and requested
core-, GiB- and GPU-seconds (`billing.AllocationUsage`), not each pod: the ledger is what a
cluster cost, and pods come and go by the thousand. `pods_from_ledger` turns those counts back
into pod lifetimes, the way a ReplicaSet moves between them:

- per workload and request shape (requested core-seconds over pod-seconds is the request of
  one pod), the number of pods in an interval is its pod-seconds over the interval's length,
  rounded, and at least one when the workload ran at all;
- when the number grows, the new pods arrive at the interval's start; when it shrinks, the
  youngest pods leave (a ReplicaSet scales down its newest pods first);
- an interval whose pods were not observed (`pods_observed` false) or not metered at all says
  nothing: the pods of the interval before it carry on;
- every pod still running at the end of the period leaves then.

What this cannot know, and the page says so: a pod's constraints (selectors, affinity,
tolerations) are not in the ledger, so replayed pods ask only for CPU, memory and GPUs;
pods that only ever waited never ran, so they are in no row; pods shorter than an interval
count as one pod for the whole interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engines.kube.resources import Resources
from engines.planner import CapacityType, PodRequest
from engines.replay.model import SECONDS_PER_HOUR, ReplayPod, ReplayResult

MIB_PER_GIB = 1024


class LedgerTooLarge(ValueError):
    """More pods than one replay may take."""


@dataclass(frozen=True, slots=True)
class WorkloadInterval:
    """One workload's row of one metered interval (all capacity types together). Amounts are
    resource-seconds: core-seconds, GiB-seconds, GPU-seconds, pod-seconds."""

    start: float
    seconds: float
    namespace: str
    workload: str
    pod_seconds: float
    cpu_seconds: float
    memory_gib_seconds: float
    gpu_seconds: float


@dataclass(frozen=True, slots=True)
class RecordedInterval:
    """One metered interval: when, how long, and whether its pods were observed."""

    start: float
    seconds: float
    pods_observed: bool = True


_Kind = tuple[str, str, int, int, int]  # namespace, workload, millicores, MiB, GPUs


def _kind(row: WorkloadInterval) -> _Kind:
    per_pod = row.pod_seconds
    return (
        row.namespace,
        row.workload,
        max(round(row.cpu_seconds / per_pod * 1000), 0),
        max(round(row.memory_gib_seconds / per_pod * MIB_PER_GIB), 0),
        max(round(row.gpu_seconds / per_pod), 0),
    )


def _pod_count(row: WorkloadInterval) -> int:
    return max(round(row.pod_seconds / row.seconds), 1)


def pods_from_ledger(
    intervals: Sequence[RecordedInterval],
    rows: Iterable[WorkloadInterval],
    *,
    end: float,
    max_pods: int,
) -> tuple[ReplayPod, ...]:
    """Pod lifetimes from the recorded counts (see the module docstring); `end` is the end of the
    period. Raises LedgerTooLarge past `max_pods` pods."""
    counts: dict[float, dict[_Kind, int]] = {}
    for row in rows:
        if row.pod_seconds <= 0 or row.seconds <= 0:
            continue
        per_interval = counts.setdefault(row.start, {})
        kind = _kind(row)
        per_interval[kind] = per_interval.get(kind, 0) + _pod_count(row)
    live: dict[_Kind, list[float]] = {}  # kind -> arrival times of its running pods, oldest first
    pods: list[ReplayPod] = []

    def leave(kind: _Kind, arrival: float, at: float) -> None:
        if at <= arrival:
            return
        if len(pods) >= max_pods:
            raise LedgerTooLarge(f"the period holds more than {max_pods} pods")
        namespace, workload, millicores, mib, gpus = kind
        uid = f"{namespace}/{workload or '(no workload)'}#{len(pods)}"
        request = PodRequest(
            uid=uid,
            name=uid,
            namespace=namespace,
            requests=Resources(cpu_millis=millicores, memory_mib=mib, gpus=gpus),
        )
        pods.append(ReplayPod(request, arrival, at))

    for interval in sorted(intervals, key=lambda item: item.start):
        if not interval.pods_observed or interval.start >= end:
            continue
        now = interval.start
        seen = counts.get(now, {})
        for kind in set(live) | set(seen):
            running = live.setdefault(kind, [])
            wanted = seen.get(kind, 0)
            while len(running) > wanted:
                leave(kind, running.pop(), now)
            running.extend([now] * (wanted - len(running)))
    for kind, running in live.items():
        for arrival in running:
            leave(kind, arrival, end)
    return tuple(sorted(pods, key=lambda pod: (pod.arrival, pod.uid)))


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """Spend, pending time and nodes over one period: what happened, or what a replay did."""

    spend: float  # USD billed
    pending_pod_seconds: float
    node_seconds: float  # nodes (not serverless micro-VMs) times the seconds they ran
    peak_nodes: int
    period_seconds: float

    @property
    def average_nodes(self) -> float:
        return self.node_seconds / self.period_seconds if self.period_seconds > 0 else 0.0

    @property
    def pending_pod_hours(self) -> float:
        return self.pending_pod_seconds / SECONDS_PER_HOUR


def replayed_figures(
    result: ReplayResult, pods: Sequence[ReplayPod], *, start: float, end: float
) -> PeriodFigures:
    """A replay's figures over [start, end): pods wait from their arrival to their node's start,
    and a pod the planner could not place waits its whole recorded life."""
    lifetimes = {pod.uid: pod.duration for pod in pods}
    never_placed = sum(lifetimes.get(item.pod_uid, 0.0) for item in result.unplaced)
    nodes = [node for node in result.nodes if node.capacity_type != CapacityType.SERVERLESS]
    events: list[tuple[float, int]] = []
    for node in nodes:
        events.append((node.launched_at, 1))
        events.append((node.released_at, -1))
    peak = running = 0
    for _, change in sorted(events):
        running += change
        peak = max(peak, running)
    return PeriodFigures(
        spend=result.cost,
        pending_pod_seconds=result.start_delay_seconds + never_placed,
        node_seconds=sum(max(node.released_at - node.launched_at, 0.0) for node in nodes),
        peak_nodes=peak,
        period_seconds=max(end - start, 0.0),
    )
