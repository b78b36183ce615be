"""`plan()`: the cheapest right-sized compute for a cluster's pending pods, with a proof of quality.

Algorithm:

0. Inter-pod rules and volume zones become node requirements (`topology.apply_topology`).
1. Compile the problem (`problem.compile_problem`): pods become request vectors grouped into
   classes; the catalog becomes arrays of the offerings the policy allows.
2. Bind pods to existing nodes reserved for them (in-flight bin-selection nodes).
3. Bin-selection: every isolated pod gets the cheapest offering that fits it alone,
   serverless shapes included when allowed. That is optimal pod by pod, so it adds its exact
   cost to the lower bound.
4. Small batches (at most 64 packed pods) are first packed exactly (`exact`: every node
   pattern, HiGHS branch-and-bound) within the caller's budget; a packing proven optimal
   ends bin-packing with the solver's dual bound as the bound. Otherwise (too big, or out of
   time) the steps below run, and the exact pass's packing and bound still count; the best
   packing is then improved by re-packing its nodes two and three at a time exactly
   (`reoptimize`), which finds what the solver had no time to.
   Bin-packing: offerings are merged into columns, and the LP relaxation (`lp`, with pattern
   columns generated for small nodes) gives the lower bound and a fractional packing that
   `packing` turns into nodes. Two integer guides compete with plain rounding, and the
   cheaper packing wins: diving (fix the most used pattern, re-solve, repeat) when the LP
   uses small nodes only, and price-and-branch (the LP with whole nodes and pods over the
   columns generated so far) on plans of up to 2,000 nodes.
5. When a packing of few nodes is still more than 1 % above the bound, branch-and-bound on
   the integer relaxation (`lp.integer_relaxation`) tightens the bound - the LP can buy a
   third of an 8-GPU node, a plan cannot - and proposes one more packing.
6. Limits: launches that would break the policy's limits are dropped whole and their pods
   reported; the bound is then recomputed for the pods actually placed.
7. Every launch gets its ordered fallback offerings, a decision and a stable id.
8. Among a launch's offerings of the same price, its pods' scheduling preferences pick
   (`preferences.prefer`: a tiebreak, never a cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.kube.capacity import CapacityType
from engines.kube.resources import Resources
from engines.planner import lp
from engines.planner.assemble import Assembler, describe_load
from engines.planner.catalog import Catalog
from engines.planner.diagnose import diagnose
from engines.planner.exact import ExactBudget, ExactPacking, solve_exact
from engines.planner.limits import Usage, admit
from engines.planner.packing import PackingInput, PackingResult, node_load, pack, packing_cost, packing_rank
from engines.planner.policy import PlannerPolicy
from engines.planner.preferences import prefer
from engines.planner.problem import PodClass, Problem, compile_problem
from engines.planner.reoptimize import reoptimize
from engines.planner.results import Binding, Launch, Plan, Unschedulable, UnschedulableCode
from engines.planner.serverless import ServerlessOption
from engines.planner.table import BoolArray, FloatArray, IntArray
from engines.planner.topology import apply_topology
from engines.planner.types import Snapshot

_NO_OVERHEAD = Resources()
# Above this relative gap between a packing and the LP bound, try the integer relaxation.
INTEGER_BOUND_TRIGGER = 0.01
# Whole-node integrality only tightens plans of few nodes; beyond this the LP is already tight.
INTEGER_BOUND_MAX_NODES = 64
# The exact pass on small batches (`exact`) within the provisioning loop's time budget.
EXACT_BUDGET = ExactBudget()


def plan(
    snapshot: Snapshot,
    policy: PlannerPolicy,
    catalog: Catalog,
    *,
    thorough: bool = True,
    exact: ExactBudget | None = EXACT_BUDGET,
) -> Plan:
    """Decide which nodes to launch for `snapshot.pods` and where every pod goes (see module doc).

    `thorough=False` skips the branch-and-bound pass on plans of few nodes: the plan keeps its
    valid LP lower bound (only less tight) and loses one candidate packing. The provisioning loop
    uses it to answer pending pods within a second; benchmarks and previews use the default.
    `exact` is the budget of the exact pass on small batches (None turns it off; see `exact`).
    """
    if snapshot.region and snapshot.region != catalog.region:
        raise ValueError(
            f"the snapshot is of region {snapshot.region} but the catalog prices {catalog.region}"
        )
    snapshot, blocked = apply_topology(snapshot, catalog.zones, catalog.offerings)
    problem = compile_problem(snapshot, policy, catalog)
    planner = _Planner(problem, thorough=thorough, exact=exact)
    planner.unschedulable.extend(blocked)
    return prefer(planner.run(), snapshot, catalog, policy)


class _Columns:
    """Offerings merged into LP columns: same instance type and same compatibility with every
    class; the cheapest offering of each group represents it."""

    def __init__(self, problem: Problem, classes: list[PodClass]) -> None:
        table = problem.table
        signatures = sorted({c.signature for c in classes})
        position = {s: i for i, s in enumerate(signatures)}
        compat = (
            np.stack([problem.signatures.masks[s] for s in signatures])
            if signatures
            else np.zeros((0, len(table)), bool)
        )
        useful = np.flatnonzero(compat.any(axis=0)) if len(table) else np.zeros(0, np.int64)
        keys = np.vstack([table.type_of[useful], np.packbits(compat[:, useful], axis=0).astype(np.int64)]).T
        if len(useful):
            group = _row_groups(keys)
            order = np.lexsort((useful, table.effective[useful], group))
            first = np.ones(len(order), bool)
            first[1:] = group[order][1:] != group[order][:-1]
            representatives = useful[order[first]]
        else:
            representatives = np.zeros(0, np.int64)
        self.offering: IntArray = representatives
        self.alloc: IntArray = table.alloc[representatives]
        self.cost = table.effective[representatives]
        class_rows = np.array([position[c.signature] for c in classes], dtype=np.int64)
        self.ok: BoolArray = (
            compat[class_rows][:, representatives]
            if len(classes)
            else np.zeros((0, len(representatives)), bool)
        )


def _row_groups(keys: IntArray) -> IntArray:
    """Each row's rank among the distinct rows in lexicographic order (what `np.unique(axis=0,
    return_inverse=True)` numbers them, without its structured-array sort)."""
    order = np.lexsort(keys.T[::-1])
    ranked = keys[order]
    new = np.ones(len(keys), bool)
    new[1:] = np.any(ranked[1:] != ranked[:-1], axis=1)
    group = np.empty(len(keys), np.int64)
    group[order] = np.cumsum(new) - 1
    return group


class _Planner:
    def __init__(self, problem: Problem, *, thorough: bool = True, exact: ExactBudget | None = None) -> None:
        self.problem = problem
        self.thorough = thorough
        self.exact = exact
        self.assembler = Assembler(problem)
        self.launches: list[Launch] = []
        self.bindings: list[Binding] = []
        self.unschedulable: list[Unschedulable] = []
        self.isolated: set[str] = set()
        self._fitting: dict[tuple[int, ...], BoolArray] = {}

    def run(self) -> Plan:
        pods = self.problem.snapshot.pods
        for index, reason in self.problem.invalid:
            self.unschedulable.append(
                Unschedulable(pods[index].uid, UnschedulableCode.INVALID_REQUEST, reason)
            )
        for index, node in self.problem.reserved_bindings:
            self.bindings.append(Binding(pods[index].uid, node.name))
        self._select_isolated()
        packed = self._pack()
        return self._finish(packed)

    # Bin-selection -------------------------------------------------------------------------
    def _select_isolated(self) -> None:
        problem = self.problem
        for class_index, pod_class in enumerate(problem.isolated):
            constraints = problem.signatures.constraints[pod_class.signature]
            mask = problem.signatures.masks[pod_class.signature] & self.assembler.fits(pod_class.vector)
            option = problem.serverless.option(pod_class.vector, constraints)
            if not mask.any() and option is None:
                self._unschedulable(pod_class, pod_class.pods)
                continue
            load = np.array(pod_class.vector, dtype=np.int64)
            for pod_index in pod_class.pods:
                ranked = self.assembler.ranked(
                    mask,
                    rotation=len(self.launches),
                    serverless=option,
                    subject=f"pod {problem.snapshot.pods[pod_index].name} alone (bin-selection)",
                    cache_key=("isolated", class_index),
                )
                overhead = (
                    _NO_OVERHEAD
                    if ranked.decision.chosen.zone == ""
                    else problem.snapshot.overhead_for(ranked.decision.chosen.instance_type)
                )
                launch = self.assembler.launch([pod_index], load, ranked, reserved=True, overhead=overhead)
                self.launches.append(launch)
                self.isolated.add(launch.node_id)

    def _unschedulable(self, pod_class: PodClass, pod_indices: list[int]) -> None:
        constraints = self.problem.signatures.constraints[pod_class.signature]
        code, reason = diagnose(self.problem, pod_class.vector, constraints)
        for index in pod_indices:
            self.unschedulable.append(Unschedulable(self.problem.snapshot.pods[index].uid, code, reason))

    # Bin-packing ---------------------------------------------------------------------------
    def _packing_input(self, classes: list[PodClass], options: list[ServerlessOption | None]) -> PackingInput:
        problem = self.problem
        columns = _Columns(problem, classes)
        existing_ok = np.array(
            [
                problem.existing.compatible(problem.signatures.constraints[c.signature], c.vector)
                for c in classes
            ],
            dtype=bool,
        ).reshape(len(classes), len(problem.existing.nodes))
        return PackingInput(
            class_vectors=np.array([c.vector for c in classes], dtype=np.int64).reshape(len(classes), 5),
            class_counts=np.array([len(c.pods) for c in classes], dtype=np.int64),
            class_signature=np.array([c.signature for c in classes], dtype=np.int64),
            column_offering=columns.offering,
            column_alloc=columns.alloc,
            column_cost=columns.cost,
            column_ok=columns.ok,
            serverless_cost=np.array([o.effective if o else np.inf for o in options], dtype=np.float64),
            existing_free=problem.existing.free,
            existing_ok=existing_ok,
            signature_masks=problem.signatures.masks,
            offering_alloc=problem.table.alloc,
            offering_cost=problem.table.effective,
        )

    def _serverless_option(self, pod_class: PodClass) -> ServerlessOption | None:
        constraints = self.problem.signatures.constraints[pod_class.signature]
        return self.problem.serverless.option(pod_class.vector, constraints)

    def _viable(self, pod_class: PodClass) -> bool:
        problem = self.problem
        constraints = problem.signatures.constraints[pod_class.signature]
        vector = tuple(pod_class.vector)
        if vector not in self._fitting:  # classes of one request under other constraints share it
            self._fitting[vector] = self.assembler.fits(pod_class.vector)
        fitting = problem.signatures.masks[pod_class.signature] & self._fitting[vector]
        return bool(
            fitting.any()
            or self._serverless_option(pod_class) is not None
            or problem.existing.compatible(constraints, pod_class.vector).any()
        )

    def _pack(self) -> _Packed:
        """Pack the viable classes; keep the cheapest of the packings the guides lead to."""
        classes = []
        for pod_class in self.problem.packed:
            if self._viable(pod_class):
                classes.append(pod_class)
            else:
                self._unschedulable(pod_class, pod_class.pods)
        options = [self._serverless_option(c) for c in classes]
        data = self._packing_input(classes, options)
        billed = np.array([o.price if o else np.inf for o in options], dtype=np.float64)
        exact = self._exact(data) if classes else None
        if exact is not None and exact.optimal and exact.result is not None:
            return _Packed(classes, data, exact.result, exact.bound, billed)
        solution = lp.solve(lp_input(data)) if classes else None
        if solution is None:
            return _Packed(classes, data, pack(data, None), 0.0, billed)
        packings = [pack(data, guide) for guide in (solution, solution.rounded) if guide is not None]
        bound = solution.bound
        if exact is not None:  # the exact pass ran out of time: its bound and packing still count
            bound = max(bound, exact.bound)
            packings += [exact.result] if exact.result is not None else []
        best = min(packings, key=lambda p: packing_rank(p, data))
        if exact is not None:  # re-pack the best packing's nodes a few at a time, exactly
            best = reoptimize(data, exact.patterns, best) or best
        few_nodes = solution.nodes.sum() + solution.pattern_nodes.sum() <= INTEGER_BOUND_MAX_NODES
        # Against the LP's own bound, as without the exact pass: an exact pass stopped early can
        # raise the bound to within the trigger of the packing's cost yet below what the integer
        # relaxation proves, and a plan with the exact pass would then report a looser bound than
        # one without it (tests/engines/planner/test_exact.py found one under a loaded machine).
        if (
            self.thorough
            and few_nodes
            and packing_cost(best, data) > (1.0 + INTEGER_BOUND_TRIGGER) * solution.bound
        ):
            # The LP may be loose on plans of few nodes (it can buy a third of an 8-GPU node):
            # branch-and-bound tightens the bound and proposes another packing to try.
            relaxation = lp.integer_relaxation(lp_input(data))
            if relaxation is not None:
                bound = max(bound, relaxation.bound)
                packings = [best, pack(data, relaxation.as_solution(solution.duals))]
                best = min(packings, key=lambda p: packing_rank(p, data))
        return _Packed(classes, data, best, bound, billed)

    def _exact(self, data: PackingInput) -> ExactPacking | None:
        """The exact pass on small batches (`exact`), tried before the heuristics: when it proves
        its packing optimal there is nothing left for them to find. Otherwise they run as on any
        batch, and the cheapest packing of all wins, so a time-out never makes a plan worse."""
        return None if self.exact is None else solve_exact(data, self.exact)

    # Output --------------------------------------------------------------------------------
    def _finish(self, packed: _Packed) -> Plan:
        problem, pods = self.problem, self.problem.snapshot.pods
        queues = [list(c.pods) for c in packed.classes]
        placed = np.zeros(len(packed.classes), np.int64)

        def take(pod_class: int, count: int) -> list[int]:
            taken = queues[pod_class][:count]
            del queues[pod_class][:count]
            placed[pod_class] += len(taken)
            return taken

        for node_index, counts in enumerate(packed.result.existing):
            for pod_class, count in counts.items():
                for pod_index in take(pod_class, count):
                    self.bindings.append(
                        Binding(pods[pod_index].uid, problem.existing.nodes[node_index].name)
                    )
        for node in packed.result.nodes:
            pod_indices = [i for c, n in sorted(node.counts.items()) for i in take(c, n)]
            load = node_load(node.counts, packed.data.class_vectors)
            signatures = {packed.classes[c].signature for c in node.counts}
            ranked = self.assembler.node_ranked(
                signatures, load, rotation=len(self.launches), subject=describe_load(len(pod_indices), load)
            )
            overhead = problem.snapshot.overhead_for(ranked.decision.chosen.instance_type)
            self.launches.append(
                self.assembler.launch(pod_indices, load, ranked, reserved=False, overhead=overhead)
            )
        for pod_class, count in sorted(packed.result.serverless.items()):
            self._serverless_launches(packed.classes[pod_class], pod_class, take(pod_class, count))
        for pod_class, left in enumerate(queues):
            if left:
                self._unschedulable(packed.classes[pod_class], left)

        admission = admit(
            self.launches,
            problem.policy.limits,
            self._existing_usage(),
            {t.name: t.vcpu for t in problem.catalog.instance_types},
            {pod.uid: pod.priority for pod in pods},
        )
        bound = packed.bound
        if admission.refused or int(placed.sum()) != int(packed.data.class_counts.sum()):
            bound = self._bound_for_placed(packed, placed, [launch for launch, _ in admission.refused])
        for launch, reason in admission.refused:
            for uid in launch.pod_uids:
                self.unschedulable.append(Unschedulable(uid, UnschedulableCode.LIMIT_REACHED, reason))
        admitted = admission.admitted
        # Bin-selected pods are optimal one by one, so their exact cost joins the bound.
        bound += sum(
            launch.chosen.effective_price_per_hour for launch in admitted if launch.node_id in self.isolated
        )
        return Plan(
            launches=tuple(admitted),
            bindings=tuple(self.bindings),
            unschedulable=tuple(self.unschedulable),
            cost_per_hour=float(sum(launch.chosen.effective_price_per_hour for launch in admitted)),
            billed_cost_per_hour=float(sum(launch.chosen.price_per_hour for launch in admitted)),
            lp_lower_bound=float(bound),
        )

    def _serverless_launches(self, pod_class: PodClass, class_index: int, pod_indices: list[int]) -> None:
        problem = self.problem
        option = problem.serverless.option(
            pod_class.vector, problem.signatures.constraints[pod_class.signature]
        )
        mask = problem.signatures.masks[pod_class.signature] & self.assembler.fits(pod_class.vector)
        load = np.array(pod_class.vector, dtype=np.int64)
        for pod_index in pod_indices:
            ranked = self.assembler.ranked(
                mask,
                rotation=len(self.launches),
                serverless=option,
                subject=f"pod {problem.snapshot.pods[pod_index].name} alone",
                cache_key=(CapacityType.SERVERLESS, class_index),
            )
            overhead = (
                _NO_OVERHEAD
                if ranked.decision.chosen.zone == ""
                else problem.snapshot.overhead_for(ranked.decision.chosen.instance_type)
            )
            self.launches.append(
                self.assembler.launch([pod_index], load, ranked, reserved=True, overhead=overhead)
            )

    def _existing_usage(self) -> Usage:
        nodes = self.problem.snapshot.existing_nodes
        types = self.problem.types_by_name
        return Usage(
            vcpu=float(sum(types[n.instance_type].vcpu for n in nodes if n.instance_type in types)),
            nodes=len(nodes),
            cost_per_hour=float(sum(n.price_per_hour for n in nodes)),
        )

    def _bound_for_placed(self, packed: _Packed, placed: IntArray, refused: list[Launch]) -> float:
        """The LP bound again, for only the packed pods the plan places, under the limit rows.

        Budgets are the limits minus what existing nodes use; ignoring what bin-selected pods
        use only loosens the rows, so the bound stays valid.
        """
        counts = placed.copy()
        class_of_uid = {
            self.problem.snapshot.pods[i].uid: k
            for k, pod_class in enumerate(packed.classes)
            for i in pod_class.pods
        }
        for launch in refused:
            for uid in launch.pod_uids:
                if uid in class_of_uid and launch.node_id not in self.isolated:
                    counts[class_of_uid[uid]] -= 1
        keep = np.flatnonzero(counts > 0)
        if not len(keep):
            return 0.0
        data, limits, usage, table = (
            packed.data,
            self.problem.policy.limits,
            self._existing_usage(),
            self.problem.table,
        )
        rows = lp.LimitRows(
            column_vcpu=np.array(
                [table.types[t].vcpu for t in table.type_of[data.column_offering]], dtype=np.float64
            ),
            column_billed=table.price[data.column_offering],
            serverless_billed=packed.serverless_billed[keep],
            max_nodes=np.inf if limits.max_nodes is None else limits.max_nodes - usage.nodes,
            max_vcpu=np.inf if limits.max_vcpu is None else limits.max_vcpu - usage.vcpu,
            max_billed=np.inf
            if limits.max_cost_per_hour is None
            else limits.max_cost_per_hour - usage.cost_per_hour,
        )
        solution = lp.solve(lp_input(data, keep=keep, counts=counts[keep], limits=rows))
        return solution.bound if solution is not None else 0.0


@dataclass(frozen=True, slots=True)
class _Packed:
    classes: list[PodClass]
    data: PackingInput
    result: PackingResult
    bound: float
    serverless_billed: FloatArray


def lp_input(
    data: PackingInput,
    *,
    keep: IntArray | None = None,
    counts: IntArray | None = None,
    limits: lp.LimitRows | None = None,
) -> lp.LpInput:
    """The LP for the packing input, or for the classes in `keep` with other counts."""
    rows = np.arange(len(data.class_counts)) if keep is None else keep
    return lp.LpInput(
        class_vectors=data.class_vectors[rows],
        class_counts=data.class_counts[rows] if counts is None else counts,
        column_alloc=data.column_alloc,
        column_cost=data.column_cost,
        column_ok=data.column_ok[rows],
        serverless_cost=data.serverless_cost[rows],
        existing_free=data.existing_free,
        existing_ok=data.existing_ok[rows],
        limits=limits,
    )
