"""Consolidation's moves: a plan of a set of nodes split into moves that can be applied alone, the
policy limits after a move, the one-type catalog that asks the planner for a single replacement,
and the cluster's topology as moves change it (`engines.planner.consolidation` runs the scan)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from engines.kube.labels import HOSTNAME, ZONE
from engines.planner.catalog import Catalog
from engines.planner.limits import Usage, launch_vcpu
from engines.planner.policy import Limits
from engines.planner.results import Binding, Launch, Plan
from engines.planner.table import IntArray, OfferingTable
from engines.planner.types import ClusterNode, ExistingNode, PlacedPod, PodRequest

# How the scan names a replacement node in the topology later sets count against.
REPLACEMENT_PREFIX = "consolidation:"


@dataclass(frozen=True, slots=True)
class RunningNode:
    """A node as consolidation sees it: the planner's view of it (its free room and what it is
    billed) and the pods that would have to move. `movable=False` keeps it (a pod that may not be
    evicted, a node too young): it is no candidate, but its free room still takes pods."""

    node: ExistingNode
    pods: tuple[PodRequest, ...] = ()
    movable: bool = True


@dataclass(frozen=True, slots=True)
class Move:
    """Nodes removed together: their pods bound to remaining nodes or to the replacement launches."""

    nodes: tuple[str, ...]
    pod_uids: tuple[str, ...]
    bindings: tuple[Binding, ...]
    launches: tuple[Launch, ...]
    cost_before: float  # billed $/h of the nodes removed
    cost_after: float  # billed $/h of the replacements
    refusal: str = ""  # why it is not proposed (empty: proposed)

    @property
    def saving(self) -> float:
        return self.cost_before - self.cost_after

    @property
    def pods_moved(self) -> int:
        return len(self.pod_uids)

    @property
    def saving_per_pod(self) -> float:
        """$/h saved per pod moved (an empty node counts as one pod: it ranks by its whole price)."""
        return self.saving / max(self.pods_moved, 1)


def split_moves(removed: Sequence[RunningNode], result: Plan) -> list[Move]:
    """The plan split into independent moves: nodes whose pods share a launch move together."""
    origin = {pod.uid: running.node.name for running in removed for pod in running.pods}
    parent = {running.node.name: running.node.name for running in removed}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for launch in result.launches:
        roots = {root(origin[uid]) for uid in launch.pod_uids}
        first, *others = sorted(roots)
        for other in others:
            parent[other] = first
    groups: dict[str, list[RunningNode]] = {}
    for running in removed:
        groups.setdefault(root(running.node.name), []).append(running)
    bindings: dict[str, list[Binding]] = {}
    for binding in result.bindings:
        bindings.setdefault(root(origin[binding.pod_uid]), []).append(binding)
    launches: dict[str, list[Launch]] = {}
    for launch in result.launches:
        launches.setdefault(root(origin[launch.pod_uids[0]]), []).append(launch)
    moves = []
    for key, members in groups.items():
        own = launches.get(key, [])
        moves.append(
            Move(
                nodes=tuple(running.node.name for running in members),
                pod_uids=tuple(pod.uid for running in members for pod in running.pods),
                bindings=tuple(bindings.get(key, [])),
                launches=tuple(own),
                cost_before=float(sum(running.node.price_per_hour for running in members)),
                cost_after=float(sum(launch.chosen.price_per_hour for launch in own)),
            )
        )
    return moves


def refused(move: Move, refusal: str) -> Move:
    return replace(move, refusal=refusal)


def usage_after(usage: Usage, move: Move, removed_vcpu: float, vcpu_by_type: dict[str, int]) -> Usage:
    added_vcpu = sum(launch_vcpu(launch, vcpu_by_type) for launch in move.launches)
    added_nodes = sum(1 for launch in move.launches if not launch.serverless)
    return Usage(
        vcpu=usage.vcpu - removed_vcpu + added_vcpu,
        nodes=usage.nodes - len(move.nodes) + added_nodes,
        cost_per_hour=usage.cost_per_hour - move.saving,
    )


def within(usage: Usage, limits: Limits) -> bool:
    return (
        (limits.max_nodes is None or usage.nodes <= limits.max_nodes)
        and (limits.max_vcpu is None or usage.vcpu <= limits.max_vcpu)
        and (limits.max_cost_per_hour is None or usage.cost_per_hour <= limits.max_cost_per_hour + 1e-9)
    )


def no_growth(before: Usage, after: Usage) -> bool:
    """A cluster already over a limit (the policy was tightened) may still shrink."""
    return (
        after.nodes <= before.nodes
        and after.vcpu <= before.vcpu
        and after.cost_per_hour <= before.cost_per_hour + 1e-9
    )


def one_type_catalogs(
    catalog: Catalog, table: OfferingTable, load: Sequence[int] | IntArray, price_below: float, tries: int
) -> list[Catalog]:
    """The catalog cut to one instance type, for the `tries` cheapest types one node of which holds
    `load` (a move's pods the plan put on new nodes) for less than `price_below`: planned with it,
    the planner has no cheaper way than one node of that type (several cost more), and checks every
    rule of the pods against it."""
    if not len(table.offerings):
        return []
    type_alloc = np.zeros((len(table.types), 5), np.int64)
    type_alloc[table.type_of] = table.alloc
    type_price = np.full(len(table.types), np.inf)
    np.minimum.at(type_price, table.type_of, table.price)
    fits = np.all(type_alloc >= np.asarray(load, np.int64), axis=1) & (type_price <= price_below + 1e-12)
    chosen = [int(i) for i in np.flatnonzero(fits)]
    chosen.sort(key=lambda i: (type_price[i], table.types[i].name))
    catalogs = []
    for index in chosen[:tries]:
        name = table.types[index].name
        catalogs.append(
            replace(
                catalog,
                instance_types=(table.types[index],),
                offerings=tuple(o for o in catalog.offerings if o.instance_type == name),
            )
        )
    return catalogs


@dataclass(slots=True)
class Topology:
    """The cluster as the planner's topology pass counts it, kept up to date as moves are kept:
    a removed node's pods leave it, a moved pod counts where it goes (a replacement node is a
    domain of its own, in its zone)."""

    nodes: dict[str, ClusterNode]
    placed: list[PlacedPod]

    def without(self, names: Iterable[str]) -> tuple[tuple[ClusterNode, ...], tuple[PlacedPod, ...]]:
        """What a plan of the pods of `names` counts against: those nodes and their pods gone."""
        gone = set(names)
        nodes = tuple(node for name, node in self.nodes.items() if name not in gone)
        return nodes, tuple(pod for pod in self.placed if pod.node_name not in gone)

    def apply(self, move: Move, requests: dict[str, PodRequest]) -> None:
        gone = set(move.nodes)
        for name in gone:
            self.nodes.pop(name, None)
        self.placed = [pod for pod in self.placed if pod.node_name not in gone]
        for binding in move.bindings:
            self.placed.append(_placed(requests[binding.pod_uid], binding.node_name))
        for launch in move.launches:
            name = f"{REPLACEMENT_PREFIX}{launch.node_id}"
            labels = {HOSTNAME: name, **({ZONE: launch.chosen.zone} if launch.chosen.zone else {})}
            self.nodes[name] = ClusterNode(name, labels)
            self.placed += [_placed(requests[uid], name) for uid in launch.pod_uids]


def _placed(pod: PodRequest, node_name: str) -> PlacedPod:
    return PlacedPod(pod.namespace, dict(pod.labels), node_name, pod.pod_anti_affinity, pod.host_ports)
