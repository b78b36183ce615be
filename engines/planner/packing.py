"""Cost-aware bin-packing of pod classes onto new and existing nodes, guided by the LP.

Algorithm (every step works on pod *classes* and counts, never on single pods):

1. Round down the LP: each pattern used u times becomes floor(u) nodes with exactly its pods;
   each large column with y_k >= 1 nodes becomes floor(y_k) nodes, each holding
   floor(z_ck / y_k) pods of every class it carries; existing nodes and serverless capacity
   take the integer part of what the LP gave them. Rounding down never overfills: a node
   gets at most the LP's average load, which fits. (A guide fixed by diving replaces this.)
2. Top up: pods left over fill the spare room of existing nodes first (it is already paid
   for), then of the nodes from step 1, most valuable classes first (value = LP dual price);
   patterns the LP used a large fraction of get one more node from what is left.
3. Greedy for the rest: repeatedly open the node that buys the most dual value per dollar,
   filling every candidate column at once with the remaining classes (vectorized), until
   every pod is placed. This right-sizes the tail that the LP left fractional.
4. Right-size every new node to the cheapest offering that holds its final load and suits all
   its pods; then merge pairs of lightly used nodes when one node holding both is cheaper,
   and send a node's pods to serverless capacity when that is cheaper than the node.

The result is never worse than the best single offering per node, and in practice within a
few percent of the LP bound once a plan has more than a handful of nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engines.planner.lp_model import IntegerPatterns, LpSolution, cheapest_alike, pods_per_node
from engines.planner.table import BoolArray, FloatArray, IntArray, fits_mask

EPSILON = 1e-9
# A pattern the LP used at least this fraction of gets a node of its own when rounding.
ROUND_UP_THRESHOLD = 0.3
MERGE_CANDIDATES = 16


@dataclass(frozen=True, slots=True)
class PackingInput:
    """Pod classes and the columns/offerings they may use (see `engines.planner.lp`)."""

    class_vectors: IntArray
    class_counts: IntArray
    class_signature: IntArray
    column_offering: IntArray
    column_alloc: IntArray
    column_cost: FloatArray
    column_ok: BoolArray
    serverless_cost: FloatArray
    existing_free: IntArray
    existing_ok: BoolArray
    signature_masks: list[BoolArray]
    offering_alloc: IntArray
    offering_cost: FloatArray


@dataclass(slots=True, eq=False)
class PackedNode:
    """A new node: pods per class, its load and (after right-sizing) its cheapest offering."""

    column: int
    spare: list[int]
    counts: dict[int, int] = field(default_factory=dict)
    offering: int = -1
    cost: float = 0.0

    def add(self, pod_class: int, count: int, vector: Sequence[int]) -> None:
        self.counts[pod_class] = self.counts.get(pod_class, 0) + count
        self.spare = [free - used * count for free, used in zip(self.spare, vector, strict=True)]


@dataclass(slots=True)
class PackingResult:
    nodes: list[PackedNode]
    existing: list[dict[int, int]]
    serverless: dict[int, int]


def node_load(counts: dict[int, int], class_vectors: IntArray) -> IntArray:
    if not counts:
        return np.zeros(class_vectors.shape[1], np.int64)
    classes = np.fromiter(counts.keys(), np.int64, len(counts))
    pods = np.fromiter(counts.values(), np.int64, len(counts))
    return np.asarray(pods @ class_vectors[classes], dtype=np.int64)


def how_many_fit(spare: Sequence[int], vector: Sequence[int]) -> int:
    """How many pods of this request fit in `spare` (pods request at least one pod slot)."""
    return min([free // used for free, used in zip(spare, vector, strict=True) if used])


class Packer:
    def __init__(self, data: PackingInput, solution: LpSolution | None) -> None:
        self.data = data
        self.solution = solution
        self.remaining = data.class_counts.copy()
        self.nodes: list[PackedNode] = []
        self.vectors = [tuple(int(v) for v in vector) for vector in data.class_vectors]
        self.existing_spare = [[int(v) for v in free] for free in data.existing_free]
        self._cheapest_memo: dict[tuple[frozenset[int], tuple[int, ...]], tuple[int, float]] = {}
        self._by_price: dict[frozenset[int], tuple[IntArray, IntArray]] = {}
        self.existing: list[dict[int, int]] = [{} for _ in range(len(data.existing_free))]
        self.serverless: dict[int, int] = {}
        # The cheapest of every group of columns alike (see `cheapest_alike`).
        self.alike = cheapest_alike(data.column_alloc, data.column_ok, data.column_cost)
        self.values = self._class_values()
        self.order = sorted(
            range(len(self.remaining)),
            key=lambda c: (-self.values[c], -int(data.class_vectors[c].sum()), c),
        )
        # Classes that suit fewer columns than others (pinned to a zone by inter-pod rules, say)
        # are rounded first (see `_round_down`); where every class suits as many, none is.
        suits = data.column_ok.sum(axis=1)
        self.pinned = suits < suits.max(initial=0)
        self.pinned_first = [c for c in self.order if self.pinned[c]] + [
            c for c in self.order if not self.pinned[c]
        ]

    def _class_values(self) -> FloatArray:
        """Dual prices from the LP; a class priced at zero gets its cheapest per-pod node share."""
        d = self.data
        # A column with a cheaper twin (same allocatable, same classes) is never the cheapest.
        columns = self.alike
        fit = pods_per_node(d.class_vectors, d.column_alloc[columns])
        usable = d.column_ok[:, columns] & (fit > 0)
        per_pod = np.where(usable, d.column_cost[columns][None, :] / np.maximum(fit, 1), np.inf).min(
            axis=1, initial=np.inf
        )
        per_pod = np.minimum(per_pod, d.serverless_cost)
        per_pod = np.where(np.isfinite(per_pod), per_pod, 0.0)
        if self.solution is None:
            return per_pod
        duals = self.solution.duals
        return np.where(duals > EPSILON, duals, per_pod)

    def run(self) -> PackingResult:
        if self.solution is not None and self.solution.integer is not None:
            self._use_integer(self.solution.integer, self.solution)
        elif self.solution is not None:
            self._round_down(self.solution)
        self._top_up_existing()
        self._top_up_new()
        self._swap_pinned_in()
        if self.solution is not None and self.solution.integer is None:
            self._round_up_patterns(self.solution)
        self._greedy()
        self._place_left_on_serverless()
        for node in self.nodes:
            self._right_size(node)
        self._merge_light_nodes()
        self._move_to_serverless()
        return PackingResult(self.nodes, self.existing, self.serverless)

    # Step 1 -------------------------------------------------------------------------------
    def _take(self, pod_class: int, wanted: float) -> int:
        count = min(int(np.floor(wanted + EPSILON)), int(self.remaining[pod_class]))
        count = max(count, 0)
        self.remaining[pod_class] -= count
        return count

    def _use_integer(self, integer: IntegerPatterns, solution: LpSolution) -> None:
        """Existing nodes and serverless as the LP has them, then the nodes fixed by diving."""
        d = self.data
        self._existing_and_serverless(solution)
        for (column, pattern), copies in zip(solution.patterns, integer.pattern_nodes, strict=True):
            for _ in range(int(copies)):
                node = PackedNode(column, [int(v) for v in d.column_alloc[column]])
                for pod_class, wanted in pattern.items():
                    count = self._take(pod_class, wanted)
                    if count:
                        node.add(pod_class, count, self.vectors[pod_class])
                if node.counts:
                    self.nodes.append(node)

    def _existing_and_serverless(self, solution: LpSolution) -> None:
        for node_index, classes in enumerate(solution.existing.T):
            for pod_class in np.flatnonzero(classes > EPSILON):
                fit = how_many_fit(self.existing_spare[node_index], self.vectors[pod_class])
                count = self._take(int(pod_class), min(classes[pod_class], fit))
                if count:
                    self._place_existing(node_index, int(pod_class), count)
        for pod_class in np.flatnonzero(solution.serverless > EPSILON):
            count = self._take(int(pod_class), solution.serverless[pod_class])
            if count:
                self.serverless[int(pod_class)] = self.serverless.get(int(pod_class), 0) + count

    def _round_down(self, solution: LpSolution) -> None:
        d = self.data
        self._existing_and_serverless(solution)
        for (column, pattern), usage in zip(solution.patterns, solution.pattern_nodes, strict=True):
            for _ in range(int(np.floor(usage + EPSILON))):
                node = PackedNode(column, [int(v) for v in d.column_alloc[column]])
                for pod_class, wanted in pattern.items():
                    count = self._take(pod_class, wanted)
                    if count:
                        node.add(pod_class, count, self.vectors[pod_class])
                if node.counts:
                    self.nodes.append(node)
        for large in np.flatnonzero(solution.nodes >= 1.0 - EPSILON):
            copies = int(np.floor(solution.nodes[large] + EPSILON))
            share = solution.placement[:, large] / solution.nodes[large]
            carried_classes = [c for c in self.pinned_first if share[c] > EPSILON]
            nodes: list[PackedNode] = []
            while len(nodes) < copies:
                node = PackedNode(int(large), [int(v) for v in d.column_alloc[large]])
                for carried in carried_classes:
                    fit = how_many_fit(node.spare, self.vectors[carried])
                    count = self._take(carried, min(share[carried], fit))
                    if count:
                        node.add(carried, count, self.vectors[carried])
                nodes.append(node)
                # The next nodes come out the same while every class this one took has as many
                # pods left: each sees the same room and takes the same count (a count the pods
                # left cut short leaves none, so the copies stop there).
                alike = min((int(self.remaining[c]) // n for c, n in node.counts.items()), default=copies)
                for _ in range(min(alike, copies - len(nodes))):
                    nodes.append(PackedNode(node.column, list(node.spare), dict(node.counts)))
                    for pod_class, count in node.counts.items():
                        self.remaining[pod_class] -= count
            # Pinned classes aim at all their pods of the column, the fractional node's too, and
            # go first: the pods left for the steps below are then more of the ones that may go
            # anywhere, which pack densely, and fewer pinned ones, each zone's needing a node there.
            self._spread_remainders(
                nodes, np.where(self.pinned, solution.placement[:, large], share * copies)
            )
            self.nodes.extend(node for node in nodes if node.counts)

    def _spread_remainders(self, nodes: list[PackedNode], intended: FloatArray) -> None:
        """The pods each class's per-node floor left out of the LP's placement on these nodes,
        one more per node, taking the nodes in turn across classes: every node gets about the
        fractional rest of the LP's mix, which fits on average where both CPU and memory are
        tight. Pinned classes go first, then the most valuable (largest) ones, so what does not
        fit is small pods that may go anywhere, which the top-up fits into the gaps left
        anywhere, rather than big ones that strand the room they cannot use."""
        if not nodes:
            return
        turn = 0
        for pod_class in (c for c in self.pinned_first if intended[c] > EPSILON):
            placed = sum(node.counts.get(int(pod_class), 0) for node in nodes)
            extra = min(int(np.floor(intended[pod_class] + EPSILON)) - placed, int(self.remaining[pod_class]))
            vector = self.vectors[pod_class]
            for _ in range(min(extra, len(nodes))):
                node = nodes[turn % len(nodes)]
                turn += 1
                if how_many_fit(node.spare, vector) >= 1:
                    node.add(int(pod_class), 1, vector)
                    self.remaining[pod_class] -= 1

    def _place_existing(self, node_index: int, pod_class: int, count: int) -> None:
        counts = self.existing[node_index]
        counts[pod_class] = counts.get(pod_class, 0) + count
        vector = self.vectors[pod_class]
        self.existing_spare[node_index] = [
            f - v * count for f, v in zip(self.existing_spare[node_index], vector, strict=True)
        ]

    # Step 2 -------------------------------------------------------------------------------
    def _top_up_existing(self) -> None:
        d = self.data
        for node_index in range(len(self.existing_spare)):
            for pod_class in self.order:
                if self.remaining[pod_class] and d.existing_ok[pod_class, node_index]:
                    fit = how_many_fit(self.existing_spare[node_index], self.vectors[pod_class])
                    count = min(fit, int(self.remaining[pod_class]))
                    if count > 0:
                        self.remaining[pod_class] -= count
                        self._place_existing(node_index, pod_class, count)

    def _top_up_new(self) -> None:
        d = self.data
        left = [c for c in self.order if self.remaining[c]]
        for node in self.nodes:
            suits = d.column_ok[:, node.column]
            for pod_class in left:
                if suits[pod_class]:
                    count = min(
                        how_many_fit(node.spare, self.vectors[pod_class]), int(self.remaining[pod_class])
                    )
                    if count > 0:
                        self.remaining[pod_class] -= count
                        node.add(pod_class, count, self.vectors[pod_class])
            left = [c for c in left if self.remaining[c]]

    def _swap_pinned_in(self) -> None:
        """Pods of pinned classes left over take the place of pods of identical requests that may
        go anywhere, on nodes that suit them: the same load, and what is left is pods that pack
        densely on any node instead of a few per zone, each zone's needing a node there."""
        d = self.data
        flexible: dict[tuple[int, ...], list[int]] = {}
        for pod_class in self.order:
            if not self.pinned[pod_class]:
                flexible.setdefault(self.vectors[pod_class], []).append(pod_class)
        columns = np.array([node.column for node in self.nodes], dtype=np.int64)
        for pod_class in self.pinned_first:
            twins = flexible.get(self.vectors[pod_class], []) if self.pinned[pod_class] else []
            if not twins or not self.remaining[pod_class]:
                continue
            for index in np.flatnonzero(d.column_ok[pod_class, columns]):
                node = self.nodes[index]
                if not self.remaining[pod_class]:
                    break
                for twin in twins:
                    count = min(node.counts.get(twin, 0), int(self.remaining[pod_class]))
                    if count > 0:
                        node.counts[twin] -= count
                        if not node.counts[twin]:
                            del node.counts[twin]
                        node.counts[pod_class] = node.counts.get(pod_class, 0) + count
                        self.remaining[pod_class] -= count
                        self.remaining[twin] += count

    def _round_up_patterns(self, solution: LpSolution) -> None:
        """Open the patterns the LP used a fraction of, most used first, with what is left:
        they were chosen for how well their pods fit together."""
        usage = solution.pattern_nodes - np.floor(solution.pattern_nodes + EPSILON)
        for index in np.argsort(-usage, kind="stable"):
            if usage[index] < ROUND_UP_THRESHOLD or not self.remaining.any():
                break
            column, pattern = solution.patterns[index]
            node = PackedNode(column, [int(v) for v in self.data.column_alloc[column]])
            for pod_class, wanted in pattern.items():
                count = self._take(pod_class, wanted)
                if count:
                    node.add(pod_class, count, self.vectors[pod_class])
            if node.counts:
                self.nodes.append(node)

    # Step 3 -------------------------------------------------------------------------------
    def _greedy(self) -> None:
        """Open the node of most dual value per dollar (see the module docstring) until every pod
        is placed. Each round fills every column with the classes left, in `order`; a column's
        fill changes between rounds only where a class the last node took now limits it (its
        pods left below what fit there), so only those columns are filled again: identical
        choices, a fraction of the work on catalogs of thousands of columns. Columns of the same
        allocatable suiting the same classes fill alike, so only the cheapest of each (the first,
        among equals) is filled: it is the one a round would choose among them."""
        d = self.data
        order = np.asarray(self.order, dtype=np.int64)
        vectors = d.class_vectors[order]
        needed = [[(int(dim), int(vector[dim])) for dim in np.flatnonzero(vector)] for vector in vectors]
        columns = self.alike
        suits = d.column_ok[order][:, columns]  # [position in order, column]
        ok = suits.astype(np.int64)
        values = self.values[order]
        alloc = np.ascontiguousarray(d.column_alloc[columns].T)  # [resource, column]
        cost = d.column_cost[columns]
        fill = np.zeros(ok.shape, np.int64)
        fit = np.zeros(ok.shape, np.int64)  # pods that fit before the cap of pods left
        dirty = np.ones(len(columns), bool)
        while True:
            remaining = self.remaining[order]
            active = np.flatnonzero(remaining > 0)
            if not len(active):
                return
            rows = np.flatnonzero(dirty)
            if len(rows):
                every = len(rows) == len(dirty)
                spare = alloc.copy() if every else alloc[:, rows]
                fill[np.ix_(np.flatnonzero(remaining == 0), rows)] = 0
                # A class suiting none of these columns fills none of them (its fill there is 0
                # already, and its fit is only read where it suits the column).
                for position in active[suits[np.ix_(active, rows)].any(axis=1)]:
                    (first, request), *others = needed[position]  # every pod requests a pod slot
                    fits = spare[first] // request
                    for dim, request in others:
                        np.minimum(fits, spare[dim] // request, out=fits)
                    count = np.minimum(fits, remaining[position])
                    count *= ok[position] if every else ok[position, rows]
                    for dim, request in needed[position]:
                        spare[dim] -= count * request
                    if every:
                        fill[position], fit[position] = count, fits
                    else:
                        fill[position, rows], fit[position, rows] = count, fits
            value = values[active] @ fill[active]
            if not np.any(value > 0):
                return  # what is left can only go to serverless capacity
            ratio = value / cost
            # Ties in value per dollar go to the node carrying more value (fewer, fuller nodes).
            chosen = int(np.lexsort((-value, -np.round(ratio, 12)))[0])
            best = int(columns[chosen])
            taken = active[fill[active, chosen] > 0]
            pattern = {int(order[p]): int(fill[p, chosen]) for p in taken}
            # The best pattern stays the best while pods last for it (other columns' fills can
            # only shrink), so open every copy at once instead of re-scoring per node.
            copies = min(int(self.remaining[c]) // n for c, n in pattern.items())
            for _ in range(copies):
                node = PackedNode(best, [int(v) for v in d.column_alloc[best]])
                for pod_class, count in pattern.items():
                    node.add(pod_class, count, self.vectors[pod_class])
                self.nodes.append(node)
            for pod_class, count in pattern.items():
                self.remaining[pod_class] -= count * copies
            left = self.remaining[order[taken]]
            dirty = np.any((ok[taken] > 0) & (fit[taken] > left[:, None]), axis=0)

    def _place_left_on_serverless(self) -> None:
        for pod_class in np.flatnonzero(self.remaining > 0):
            if np.isfinite(self.data.serverless_cost[pod_class]):
                self.serverless[int(pod_class)] = self.serverless.get(int(pod_class), 0) + int(
                    self.remaining[pod_class]
                )
                self.remaining[pod_class] = 0

    # Step 4 -------------------------------------------------------------------------------
    def _compatible(self, counts: dict[int, int]) -> BoolArray:
        signatures = {int(self.data.class_signature[c]) for c in counts}
        mask = np.ones(len(self.data.offering_cost), bool)
        for signature in signatures:
            mask &= self.data.signature_masks[signature]
        return mask

    def _cheapest(self, counts: dict[int, int]) -> tuple[int, float]:
        """The cheapest offering suiting every pod of a node and holding their load (memoized:
        copies of one pattern share the answer)."""
        load = node_load(counts, self.data.class_vectors)
        key = (frozenset(int(self.data.class_signature[c]) for c in counts), tuple(int(v) for v in load))
        if key not in self._cheapest_memo:
            if key[0] not in self._by_price:
                # The offerings suiting these signatures, cheapest first (the first among equals).
                suiting = np.flatnonzero(self._compatible(counts))
                ranked = suiting[np.argsort(self.data.offering_cost[suiting], kind="stable")]
                self._by_price[key[0]] = (ranked, self.data.offering_alloc[ranked])
            ranked, alloc = self._by_price[key[0]]
            fits = fits_mask(alloc, load)
            if not fits.any():
                self._cheapest_memo[key] = (-1, np.inf)
            else:
                best = int(ranked[np.argmax(fits)])
                self._cheapest_memo[key] = (best, float(self.data.offering_cost[best]))
        return self._cheapest_memo[key]

    def _right_size(self, node: PackedNode) -> None:
        node.offering, node.cost = self._cheapest(node.counts)

    def _merge_light_nodes(self) -> None:
        while len(self.nodes) > 1:
            light = sorted(self.nodes, key=self._utilization)[:MERGE_CANDIDATES]
            best_saving, best_pair, best_choice = EPSILON, None, (-1, 0.0)
            for i, first in enumerate(light):
                for second in light[i + 1 :]:
                    merged = dict(first.counts)
                    for pod_class, count in second.counts.items():
                        merged[pod_class] = merged.get(pod_class, 0) + count
                    offering, cost = self._cheapest(merged)
                    saving = first.cost + second.cost - cost
                    if offering >= 0 and saving > best_saving:
                        best_saving, best_pair, best_choice = saving, (first, second), (offering, cost)
            if best_pair is None:
                return
            first, second = best_pair
            for pod_class, count in second.counts.items():
                first.counts[pod_class] = first.counts.get(pod_class, 0) + count
            first.offering, first.cost = best_choice
            self.nodes.remove(second)

    def _utilization(self, node: PackedNode) -> float:
        load = node_load(node.counts, self.data.class_vectors)
        alloc = self.data.offering_alloc[node.offering]
        used = alloc > 0
        return float(np.max(load[used] / alloc[used])) if used.any() else 1.0

    def _move_to_serverless(self) -> None:
        costs = self.data.serverless_cost
        kept: list[PackedNode] = []
        for node in self.nodes:
            serverless = sum(costs[c] * n for c, n in node.counts.items())
            if serverless < node.cost - EPSILON:
                for pod_class, count in node.counts.items():
                    self.serverless[pod_class] = self.serverless.get(pod_class, 0) + count
            else:
                kept.append(node)
        self.nodes = kept


def packing_cost(result: PackingResult, data: PackingInput) -> float:
    """Effective $/hour of a packing: its nodes plus its serverless pods."""
    nodes = sum(node.cost for node in result.nodes)
    return float(nodes + sum(data.serverless_cost[c] * n for c, n in result.serverless.items()))


def packing_rank(result: PackingResult, data: PackingInput) -> tuple[int, float]:
    """How packings compare: fewer pods left out first, then cost. A guide can leave out a pod
    that only an existing node's room takes (another guide filled that room first); the
    packing is then cheaper by that pod, not better."""
    placed = sum(n for node in result.nodes for n in node.counts.values())
    placed += sum(n for counts in result.existing for n in counts.values())
    placed += sum(result.serverless.values())
    return int(data.class_counts.sum()) - placed, packing_cost(result, data)


def pack(data: PackingInput, solution: LpSolution | None) -> PackingResult:
    """Pack every pod of `data` (see the module docstring); classes that fit nowhere must have
    been removed by the caller."""
    return Packer(data, solution).run()
