"""Consolidation: re-packing long-running pods when that is clearly cheaper.

Pods planned one arrival at a time each get the cheapest node for themselves; pods that
would share a bigger node more cheaply (four one-GPU pods on one four-GPU node) never meet.
So every `interval_seconds` the replay looks again at the nodes whose pods have all run for
at least `min_pod_age_seconds` (young pods are likely to leave soon; moving them is churn):

1. Sort those nodes by their load (GPUs, then CPU, then memory), so nodes whose pods could
   share a node sit next to each other, and cut the list into groups of at most
   `group_pods` pods.
2. Ask the planner to pack each group's pods from scratch. A group of pods of the same kinds
   as one seen before is answered from the replay's plan memo, so looking often is cheap.
3. Adopt a proposal cheaper than the group's nodes by more than `min_savings` (a fraction of
   their price per hour): nodes it reproduces (same instance type, same pods) are kept, the
   rest are cordoned at once and released as soon as their pods have moved; replacements
   boot like any launch.

A moved pod keeps its end time (as if it resumed where it stopped), so consolidation trades
restarts - counted in the result - for money.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engines.planner import Launch, PodRequest
from engines.replay.cluster import SimNode
from engines.replay.planning import ReplayPlanner


@dataclass(frozen=True, slots=True)
class Consolidation:
    interval_seconds: float
    min_savings: float = 0.05
    min_pod_age_seconds: float = 3600.0
    group_pods: int = 8
    whole_pods: int = 24

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0 or self.min_pod_age_seconds < 0 or self.group_pods <= 0:
            raise ValueError("consolidation needs a positive interval and group size, and a pod age >= 0")
        if not 0 <= self.min_savings < 1:
            raise ValueError("min_savings is a fraction in [0, 1)")


@dataclass(frozen=True, slots=True)
class Repacking:
    """An adopted consolidation: the nodes to replace and the launches replacing them."""

    replaced: tuple[SimNode, ...]
    launches: tuple[Launch, ...]
    savings_per_hour: float


def candidate_groups(
    nodes: Iterable[SimNode], started_at: Mapping[str, float], now: float, settings: Consolidation
) -> list[list[SimNode]]:
    """Steps 1 of the module docstring: ready, uncordoned, shared-capacity nodes whose pods
    all started long enough ago, grouped by load."""
    eligible = [
        node
        for node in nodes
        if node.pods
        and not node.cordoned
        and node.reserved_for_pod is None
        and node.ready_at <= now
        and all(now - started_at[uid] >= settings.min_pod_age_seconds for uid in node.pods)
    ]
    eligible.sort(key=lambda node: (-node.used.gpus, -node.used.cpu_millis, -node.used.memory_mib, node.name))
    if sum(len(node.pods) for node in eligible) <= settings.whole_pods:
        return [eligible] if eligible else []
    groups: list[list[SimNode]] = []
    size = 0
    for node in eligible:
        if not groups or size + len(node.pods) > settings.group_pods:
            groups.append([])
            size = 0
        groups[-1].append(node)
        size += len(node.pods)
    return groups


def repack(
    nodes: list[SimNode], requests: Mapping[str, PodRequest], planner: ReplayPlanner, settings: Consolidation
) -> Repacking | None:
    """Steps 2-3 of the module docstring for one group."""
    uids = sorted(uid for node in nodes for uid in node.pods)
    proposal = planner.plan([requests[uid] for uid in uids], ())
    if proposal.unschedulable:
        return None
    current = {
        (node.choice.instance_type, node.choice.capacity_type, frozenset(node.pods)): node for node in nodes
    }
    kept: set[SimNode] = set()
    launches: list[Launch] = []
    for launch in proposal.launches:
        same = current.get(
            (launch.chosen.instance_type, launch.chosen.capacity_type, frozenset(launch.pod_uids))
        )
        if same is not None and same not in kept:
            kept.add(same)
        else:
            launches.append(launch)
    replaced = tuple(node for node in nodes if node not in kept)
    before = sum(node.choice.effective_price_per_hour for node in replaced)
    after = sum(launch.chosen.effective_price_per_hour for launch in launches)
    if not replaced or after >= before * (1.0 - settings.min_savings):
        return None
    return Repacking(replaced, tuple(launches), before - after)
