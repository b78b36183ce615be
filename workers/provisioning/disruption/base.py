"""The interface every disruption method implements, and the candidates it is offered.

Like Karpenter's `disruption.Method`: `should_disrupt` says whether a method considers a candidate
at all (cheap, one candidate at a time); `compute` turns the candidates it kept into commands (it may
look across them, plan, or keep only the first that works).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from engines.kube.cluster import ObservedNode
from workers.provisioning.commands import DisruptionCommand
from workers.provisioning.inputs import PassInputs
from workers.provisioning.records import NodeRecord


@dataclass(frozen=True)
class Candidate:
    """An active record and the node its instance registered as (None while it has none)."""

    record: NodeRecord
    node: ObservedNode | None


class Method(ABC):
    @abstractmethod
    def should_disrupt(self, inputs: PassInputs, candidate: Candidate) -> bool: ...

    @abstractmethod
    def compute(self, inputs: PassInputs, candidates: Sequence[Candidate]) -> list[DisruptionCommand]: ...


def candidates(inputs: PassInputs) -> list[Candidate]:
    return [Candidate(record, inputs.node_of(record)) for record in inputs.active()]


def disrupt(method: Method, inputs: PassInputs) -> list[DisruptionCommand]:
    """What `method` asks for, given the pass so far."""
    kept = [candidate for candidate in candidates(inputs) if method.should_disrupt(inputs, candidate)]
    return method.compute(inputs, kept)


def has_workload(node: ObservedNode) -> bool:
    """Whether pods keep the node busy (DaemonSet pods and finished pods do not); stops at the first."""
    return any(not pod.is_daemonset and not pod.is_finished for pod in node.pods)
