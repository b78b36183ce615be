"""Consolidation's estimates, vectorised over every node: what each node's pods load, what a node
would save (step 1 of `engines.planner.consolidation`), which well-sized nodes could be emptied
onto the others' room (step 4). Estimates only order and pick candidates: plans decide."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engines.planner.consolidation_moves import RunningNode
from engines.planner.problem import pod_vector
from engines.planner.table import BoolArray, FloatArray, IntArray, OfferingTable
from engines.planner.types import ExistingNode

# Nodes compared against instance types in blocks, so the comparison stays a few MB.
_BLOCK = 256


@dataclass(frozen=True, slots=True)
class Loads:
    """By node (in the scan's order): its pods' summed request vectors, whether the planner takes
    every one of them (`valid`), and its free room, as vectors."""

    loads: IntArray
    valid: BoolArray
    free: IntArray

    @property
    def fill(self) -> FloatArray:
        """The largest share of its CPU or memory a node's pods use."""
        capacity = np.maximum(self.loads + self.free, 1)
        return np.asarray((self.loads[:, :2] / capacity[:, :2]).max(axis=1), np.float64)


def node_loads(nodes: Sequence[RunningNode], gpu_sharing: bool) -> Loads:
    loads = np.zeros((len(nodes), 5), np.int64)
    valid = np.ones(len(nodes), bool)
    for index, running in enumerate(nodes):
        for pod in running.pods:
            vector = pod_vector(pod, gpu_sharing)
            if isinstance(vector, str):
                valid[index] = False  # the plan would refuse it: nothing to estimate
                break
            loads[index] += vector
    free = np.array([r.node.free.clamped().as_vector() for r in nodes], np.int64).reshape(-1, 5)
    return Loads(loads, valid, free)


def estimated_savings(
    nodes: Sequence[RunningNode], loads: Loads, table: OfferingTable, share: float
) -> FloatArray:
    """Each node's price less the billed price of the cheapest type that holds its pods alone
    (0 for a node that cannot move or whose pods fit no type); a node whose pods all fit in the
    free room of one node that stays, its whole price. (Room spread over many nodes would count
    nearly every node of a loose cluster: step 4 takes those, after the plans of step 2.)"""
    type_price = np.full(len(table.types), np.inf)
    np.minimum.at(type_price, table.type_of, table.price)
    type_alloc = np.zeros((len(table.types), 5), np.int64)
    type_alloc[table.type_of] = table.alloc
    cheapest = np.full(len(nodes), np.inf)
    for start in range(0, len(nodes), _BLOCK):
        block = loads.loads[start : start + _BLOCK]
        fits = np.all(type_alloc[None, :, :] >= block[:, None, :], axis=2)
        cheapest[start : start + len(block)] = np.where(fits, type_price[None, :], np.inf).min(
            axis=1, initial=np.inf
        )
    cheapest[np.array([not running.pods for running in nodes], bool)] = 0.0
    prices = np.array([running.node.price_per_hour for running in nodes], np.float64)
    estimates = np.where(np.isfinite(cheapest), prices - cheapest, 0.0)
    movable = np.array([running.movable for running in nodes], bool) & loads.valid
    estimates = np.where(movable, np.maximum(estimates, 0.0), 0.0)
    leaving = movable & (estimates > 0) & (estimates >= share * prices)
    staying = loads.free[~leaving]
    elsewhere = np.zeros(len(nodes), bool)
    for start in range(0, len(nodes), _BLOCK):
        block = loads.loads[start : start + _BLOCK]
        hosts = np.all(staying[None, :, :] >= block[:, None, :], axis=2).sum(axis=1)
        # A staying node always holds its own pods' room: it needs one other host.
        own = ~leaving[start : start + _BLOCK] & np.all(loads.free[start : start + _BLOCK] >= block, axis=1)
        elsewhere[start : start + _BLOCK] = hosts - own > 0
    elsewhere &= movable & ~leaving & np.array([bool(r.pods) for r in nodes], bool)
    return np.asarray(np.where(elsewhere, prices, estimates), np.float64)


def first_fit(
    order: Sequence[RunningNode], receivers: Mapping[str, ExistingNode], gpu_sharing: bool, most: float
) -> list[RunningNode]:
    """The nodes of `order` (each one of `receivers`) whose pods, largest first, fit one by one into
    the free room of the other receivers, at most `most`: room they take is taken, a node emptied
    takes nothing and a node that takes pods is not emptied."""
    names = list(receivers)
    room = np.array([receivers[name].free.clamped().as_vector() for name in names], np.int64).reshape(-1, 5)
    row = {name: i for i, name in enumerate(names)}
    receives = np.ones(len(names), bool)
    stays: set[str] = set()
    chosen: list[RunningNode] = []
    for running in order:
        if running.node.name in stays or len(chosen) >= most:
            continue
        own = row[running.node.name]
        receives[own] = False
        trial = room.copy()
        hosts: list[int] = []
        vectors = [np.asarray(pod_vector(pod, gpu_sharing), np.int64) for pod in running.pods]
        for vector in sorted(vectors, key=lambda v: tuple(v.tolist()), reverse=True):
            fits = receives & np.all(trial >= vector, axis=1)
            if not fits.any():
                break
            host = int(np.argmax(fits))
            trial[host] -= vector
            hosts.append(host)
        if len(hosts) < len(running.pods):
            receives[own] = True
            continue
        room = trial
        chosen.append(running)
        stays.update(names[host] for host in hosts)
    return chosen


def chunks(nodes: Sequence[RunningNode], pods_per_set: int) -> Iterator[list[RunningNode]]:
    """`nodes` in order, in runs of at most `pods_per_set` pods (a node with more: alone)."""
    chunk: list[RunningNode] = []
    pods = 0
    for running in nodes:
        if chunk and pods + len(running.pods) > pods_per_set:
            yield chunk
            chunk, pods = [], 0
        chunk.append(running)
        pods += len(running.pods)
    if chunk:
        yield chunk
