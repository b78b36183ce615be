"""Reading a trace into replay pods: the only part of the replay that touches files.

The OpenB pod lists give every pod a creation and a deletion time; the pod's request is the
planner's own mapping (`clusters.pricing.trace_pod_request`). A pod deleted at the instant it
was created never ran: it is kept out and counted, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engines.replay.model import ReplayPod
from lab.traces.alibaba import DEFAULT_TRACE, read_alibaba_pods, trace_pod_request


@dataclass(frozen=True, slots=True)
class LoadedTrace:
    pods: tuple[ReplayPod, ...]
    rows: int
    never_ran: tuple[str, ...]  # names of pods deleted when created (or without a deletion time)


def load_alibaba_trace(path: Path = DEFAULT_TRACE) -> LoadedTrace:
    rows = read_alibaba_pods(path)
    pods: list[ReplayPod] = []
    never_ran: list[str] = []
    for row in rows:
        if row.deletion_time is None or row.deletion_time <= row.creation_time:
            never_ran.append(row.name)
            continue
        pods.append(ReplayPod(trace_pod_request(row), float(row.creation_time), float(row.deletion_time)))
    return LoadedTrace(tuple(pods), len(rows), tuple(never_ran))
