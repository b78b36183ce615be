"""The simulated kube-scheduler: binds a new pod to a ready node with room before the planner
is asked, as in a real cluster, where the provisioner only sees pods the scheduler left
pending.

A node can host a pod when it is ready, not cordoned, not reserved for another pod, has the pod's
footprint free, matches its node selector and required node affinity (with the planner's
label semantics), carries no taint the pod does not tolerate, and - for a pod that wants a
GPU - has a GPU model the pod accepts. Among such nodes the most allocated one wins (the
`MostAllocated` scoring of a bin-packing scheduler profile), so spare room is filled before
new capacity is bought. Pods the policy isolates are never scheduled here: they wait for a
node of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from engines.kube.labels import untolerated_taints
from engines.planner import NodeSelectorRequirement, Operator, PlannerPolicy, PodRequest, Resources
from engines.replay.cluster import SimNode, footprint


def matches_node(pod: PodRequest, labels: Mapping[str, str]) -> bool:
    selector = all(
        NodeSelectorRequirement(key, Operator.IN, (value,)).matches(labels)
        for key, value in pod.node_selector.items()
    )
    affinity = not pod.required_node_affinity or any(
        term.matches(labels) for term in pod.required_node_affinity
    )
    return selector and affinity


def can_host(node: SimNode, pod: PodRequest, gpu_model: str, now: float) -> bool:
    return (
        node.live
        and not node.cordoned
        and node.allocatable is not None
        and node.ready_at <= now
        and node.reserved_for_pod is None
        and footprint(pod).fits_in(node.free)
        and matches_node(pod, node.labels)
        and not untolerated_taints(node.taints, pod.tolerations)
        and (not pod.wants_gpu or not pod.gpu_models or gpu_model in pod.gpu_models)
    )


def _utilization_after(node: SimNode, taken: Resources) -> float:
    assert node.allocatable is not None
    used = node.used + taken
    shares = [
        used_amount / total
        for used_amount, total in (
            (used.cpu_millis, node.allocatable.cpu_millis),
            (used.memory_mib, node.allocatable.memory_mib),
            (used.gpus, node.allocatable.gpus),
        )
        if total > 0
    ]
    return sum(shares) / len(shares) if shares else 0.0


class Scheduler:
    """Chooses ready nodes for pending pods (see the module docstring)."""

    def __init__(self, policy: PlannerPolicy, gpu_model_by_type: Mapping[str, str]) -> None:
        self._policy = policy
        self._gpu_model_by_type = gpu_model_by_type

    def choose(self, pod: PodRequest, nodes: Iterable[SimNode], now: float) -> SimNode | None:
        if self._policy.isolates(pod):
            return None
        taken = footprint(pod)
        best: SimNode | None = None
        best_score = -1.0
        for node in nodes:
            if not can_host(node, pod, self._gpu_model_by_type.get(node.choice.instance_type, ""), now):
                continue
            score = _utilization_after(node, taken)
            if score > best_score:
                best, best_score = node, score
        return best
