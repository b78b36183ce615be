"""Improving a small batch's packing by re-packing its new nodes a few at a time, exactly.

When branch-and-bound on the whole batch (`exact`) runs out of time, its best packing and the
heuristics' are often a node's worth above the optimum: the LP relaxation of batches of a few
nodes is loose (the optimum of a batch capped at 8 pods per node can sit 9 % above it), so
the solver spends its budget proving rather than finding. Large-neighbourhood search closes
most of that: take two or three nodes of the packing, pack their pods again exactly, keep the
result when it is cheaper, and repeat until no pair or triple improves or the work budget is
spent.

Re-packing a handful of nodes' pods is a shortest path over the vectors of pods left (at most
a few thousand of them), each step one node pattern: f(s) = min_P cost(P) + f(s - min(P, s)).
The patterns are the exact pass's maximal patterns cut down to the pods at hand; they are
enough (`exact.node_patterns`: whatever a node could carry, a kept pattern of no higher price
carries too). Every step must carry a pod of the first class left, which every packing of s
does, so each packing is counted once. Existing nodes and serverless capacity keep their pods.

The work is capped in (state, pattern) pairs evaluated, not in seconds: the engine reads no
clock, and the same batch gets the same plan however busy the machine is.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from engines.planner.exact import Patterns
from engines.planner.packing import PackedNode, PackingInput, PackingResult, node_load
from engines.planner.table import FloatArray, IntArray

# A sub-problem with more pod vectors than this is skipped (its nodes carry many pods).
MAX_STATES = 20_000
# (state, pattern) pairs one call may evaluate, in all: a few tens of milliseconds.
REOPTIMIZE_WORK = 1_000_000
# Nodes re-packed together.
GROUP_SIZES = (2, 3)
# Patterns compared pairwise for dominance only below this many (the test is quadratic).
DOMINANCE_MAX_PATTERNS = 600
EPSILON = 1e-9


def reoptimize(
    data: PackingInput, patterns: Patterns, result: PackingResult, work: int = REOPTIMIZE_WORK
) -> PackingResult | None:
    """A cheaper packing than `result` found by re-packing its new nodes a few at a time, or
    None when no group of GROUP_SIZES nodes re-packs cheaper within `work`."""
    classes = len(data.class_counts)
    # Emptiest nodes first: groups of them are the likeliest to re-pack cheaper.
    emptiest = sorted(result.nodes, key=lambda node: _used(data, node))
    nodes = [(_vector(node.counts, classes), node.cost, node) for node in emptiest]
    costs = data.column_cost[patterns.column]
    improved = False
    search = _Search(patterns.counts, costs)
    while search.work < work:
        group = _improving_group(nodes, search, work)
        if group is None:
            break
        chosen, cover = group
        nodes = [node for i, node in enumerate(nodes) if i not in chosen]
        for pattern, carried in cover:
            column = int(patterns.column[pattern])
            node = _new_node(data, column, carried)
            nodes.append((carried, node.cost, node))
        improved = True
    if not improved:
        return None
    return PackingResult([node for _, _, node in nodes], result.existing, result.serverless)


def _improving_group(
    nodes: list[tuple[IntArray, float, PackedNode]], search: _Search, work: int
) -> tuple[set[int], list[tuple[int, IntArray]]] | None:
    for size in GROUP_SIZES:
        for chosen in combinations(range(len(nodes)), size):
            if search.work >= work:
                return None
            pods = np.sum([nodes[i][0] for i in chosen], axis=0)
            if int(np.prod(pods + 1)) > MAX_STATES:
                continue
            below = sum(nodes[i][1] for i in chosen) - EPSILON
            key = (pods.tobytes(), round(below, 9))
            if key in search.failed:  # the same pods, no cheaper than last time: skip
                continue
            cover = search.cheapest_cover(pods, below)
            if cover is not None:
                return set(chosen), cover
            search.failed.add(key)
    return None


class _Search:
    """Exact covers of small pod vectors by node patterns, counting the work done."""

    def __init__(self, counts: IntArray, costs: FloatArray) -> None:
        order = np.argsort(costs, kind="stable")
        self.counts = counts[order]
        self.costs = costs[order]
        self.index = order
        self.work = 0
        self.failed: set[tuple[bytes, float]] = set()  # groups that re-packed no cheaper

    def cheapest_cover(self, pods: IntArray, below: float) -> list[tuple[int, IntArray]] | None:
        """The cheapest patterns (index, pods carried) that carry `pods`, if they cost less than
        `below`; else None."""
        cheap = int(np.searchsorted(self.costs, below, side="left"))
        radix = pods + 1
        place = np.concatenate([[1], np.cumprod(radix[:-1])]).astype(np.int64)
        cut, costs, index = _cut_patterns(
            pods, place, self.counts[:cheap], self.costs[:cheap], self.index[:cheap]
        )
        if not len(cut):
            return None
        size = int(np.prod(radix))
        states = (np.arange(size)[:, None] // place[None, :]) % radix[None, :]
        first = np.argmax(states > 0, axis=1)
        level = states.sum(axis=1)
        best = np.full(size, np.inf)
        best[0] = 0.0
        choice = np.full(size, -1, np.int64)
        classes = len(pods)
        group = level * classes + first
        ordered = np.argsort(group, kind="stable")
        edges = np.searchsorted(group[ordered], np.arange(classes * (int(pods.sum()) + 1) + 1))
        carrying = [np.flatnonzero(cut[:, c] > 0) for c in range(classes)]
        for key in range(classes, classes * (int(pods.sum()) + 1)):
            members = ordered[edges[key] : edges[key + 1]]
            usable = carrying[key % classes]
            if not len(members) or not len(usable):
                continue
            at = states[members]
            after = (at[:, None, :] - np.minimum(cut[usable][None, :, :], at[:, None, :])) @ place
            total = best[after] + costs[usable][None, :]
            pick = np.argmin(total, axis=1)
            best[members] = total[np.arange(len(members)), pick]
            choice[members] = usable[pick]
            self.work += len(members) * len(usable)
        if not best[size - 1] < below:
            return None
        cover = []
        state = size - 1
        while state:
            carried = np.minimum(cut[choice[state]], states[state])
            cover.append((int(index[choice[state]]), carried))
            state = int((states[state] - carried) @ place)
        return cover


def _cut_patterns(
    pods: IntArray, place: IntArray, counts: IntArray, costs: FloatArray, index: IntArray
) -> tuple[IntArray, FloatArray, IntArray]:
    """Patterns cut down to `pods`: distinct (a cut pattern is a state, numbered by `place`),
    the cheapest of each (the input is cheapest first), and without those another carries
    more of for no more."""
    cut = np.minimum(counts, pods[None, :])
    _, first = np.unique(cut @ place, return_index=True)
    first = first[cut[first].any(axis=1)]
    cut, costs, index = cut[first], costs[first], index[first]
    if len(cut) <= DOMINANCE_MAX_PATTERNS:
        covers = np.all(cut[None, :, :] >= cut[:, None, :], axis=2)  # [i, j]: j carries all of i
        np.fill_diagonal(covers, val=False)
        dominated = np.any(covers & (costs[None, :] <= costs[:, None]), axis=1)
        cut, costs, index = cut[~dominated], costs[~dominated], index[~dominated]
    return cut, costs, index


def _used(data: PackingInput, node: PackedNode) -> float:
    """The node's largest share of its column's allocatable resources in use."""
    alloc = data.column_alloc[node.column]
    load = node_load(node.counts, data.class_vectors)
    return float(np.max(load[alloc > 0] / alloc[alloc > 0], initial=0.0))


def _vector(counts: dict[int, int], classes: int) -> IntArray:
    vector = np.zeros(classes, np.int64)
    for pod_class, count in counts.items():
        vector[pod_class] = count
    return vector


def _new_node(data: PackingInput, column: int, carried: IntArray) -> PackedNode:
    counts = {int(c): int(carried[c]) for c in np.flatnonzero(carried)}
    spare = [int(v) for v in data.column_alloc[column] - node_load(counts, data.class_vectors)]
    return PackedNode(
        column, spare, counts, int(data.column_offering[column]), float(data.column_cost[column])
    )
