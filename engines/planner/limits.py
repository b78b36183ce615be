"""Policy limits (max vCPU, max nodes, max $/hour) applied to a plan's launches.

Existing managed nodes count against the limits. Launches are admitted in a fixed order -
highest pod priority first, then the most pods per dollar - and a launch that would break a
limit is left out whole; its pods stay pending with the limit named. Serverless pods count
against vCPU and $/hour, not against the node count (they are not nodes we manage).
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.planner.policy import Limits
from engines.planner.results import Launch


@dataclass(frozen=True, slots=True)
class Usage:
    vcpu: float
    nodes: int
    cost_per_hour: float


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: list[Launch]
    refused: list[tuple[Launch, str]]
    usage: Usage


def launch_vcpu(launch: Launch, vcpu_by_type: dict[str, int]) -> float:
    if launch.serverless:
        return launch.requests.cpu_millis / 1000
    return float(vcpu_by_type.get(launch.chosen.instance_type, 0))


def admit(
    launches: list[Launch],
    limits: Limits,
    existing: Usage,
    vcpu_by_type: dict[str, int],
    priority_of: dict[str, int],
) -> Admission:
    if limits.max_vcpu is None and limits.max_nodes is None and limits.max_cost_per_hour is None:
        return Admission(launches, [], existing)

    def rank(launch: Launch) -> tuple[float, float, str]:
        priority = max(priority_of.get(uid, 0) for uid in launch.pod_uids)
        return (-priority, -len(launch.pod_uids) / max(launch.chosen.price_per_hour, 1e-12), launch.node_id)

    vcpu, nodes, cost = existing.vcpu, existing.nodes, existing.cost_per_hour
    admitted: list[Launch] = []
    refused: list[tuple[Launch, str]] = []
    for launch in sorted(launches, key=rank):
        extra_vcpu = launch_vcpu(launch, vcpu_by_type)
        extra_nodes = 0 if launch.serverless else 1
        price = launch.chosen.price_per_hour
        reason = None
        if limits.max_nodes is not None and nodes + extra_nodes > limits.max_nodes:
            reason = f"a new node would exceed the policy's max_nodes={limits.max_nodes} ({nodes} in use or planned)"
        elif limits.max_vcpu is not None and vcpu + extra_vcpu > limits.max_vcpu:
            reason = (
                f"{launch.chosen.instance_type} ({extra_vcpu:g} vCPU) would exceed the policy's "
                f"max_vcpu={limits.max_vcpu} ({vcpu:g} in use or planned)"
            )
        elif limits.max_cost_per_hour is not None and cost + price > limits.max_cost_per_hour + 1e-12:
            reason = (
                f"{launch.chosen.instance_type} (${price:.4f}/h) would exceed the policy's "
                f"max_cost_per_hour=${limits.max_cost_per_hour:g} (${cost:.4f}/h in use or planned)"
            )
        if reason is None:
            admitted.append(launch)
            vcpu, nodes, cost = vcpu + extra_vcpu, nodes + extra_nodes, cost + price
        else:
            refused.append((launch, "left pending: " + reason))
    return Admission(admitted, refused, Usage(vcpu, nodes, cost))
