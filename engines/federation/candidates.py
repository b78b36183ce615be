"""Filter: the clusters one decision may use, what fits in each, and what the workload holds now.

Arrays are indexed by *offset*, a position in ``Candidates.indices`` (fleet indices of the clusters
that pass selector, kind and health, in fleet order).

Current replicas fall in three groups:
- on a candidate cluster: ``current[offset]``, kept by STEADY assignment;
- on a cluster that is unhealthy or unreachable while the loop asked to keep them there
  (``keep_current``, the `sticky` failure mode or a grace period): ``held``, never moved or grown;
- anywhere else (selector no longer matches, cluster avoided or gone, unhealthy without
  ``keep_current``): ``dropped``, to be placed again like a scale-up (Karmada's semantics).

An elastic cluster's room for a workload (a nodeless cluster's, or one whose own autoscaler has
no limits) is at most the workload's replica count (see ``gather``).

An avoided cluster stays in the arrays with zero capacity, so offsets stay aligned with the
memoised per-selector views; nothing can be placed on it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from engines.federation.division import names_descending_for
from engines.federation.fleet import EligibleSet, FilterReason, Fleet, FloatArray, IntArray, filter_reason
from engines.federation.model import CurrentPlacement, WorkloadSpec
from engines.federation.policy import PlacementPolicy
from engines.federation.pricing import CostModel

_HELD_REASONS = (FilterReason.UNHEALTHY, FilterReason.UNREACHABLE)


@dataclass(slots=True)
class Candidates:
    """Everything one decision needs, per candidate offset. ``tie`` orders exact ties (lower
    wins): the cluster's rank by name, negated for workloads whose ties go to later names."""

    fleet: Fleet
    workload: WorkloadSpec
    policy: PlacementPolicy
    eligible: EligibleSet
    costs: CostModel
    indices: IntArray
    fit: IntArray
    current: IntArray
    # Arrays below may share memory with ``fit``/``current`` (nothing runs yet): never modify in place.
    available: IntArray  # fit + current: replicas each candidate could run
    holders: IntArray  # 1 where the workload already runs: wins ties, earns the stickiness bonus
    has_holders: bool
    held: dict[int, int]
    held_reason: dict[int, str]
    dropped: dict[str, tuple[int, str]]
    avoided: int
    tie: IntArray
    seconds_since_change: float | None
    _egress: FloatArray | None = None
    _egress_rates: list[float] | None = None

    @property
    def desired(self) -> int:
        return self.workload.replicas

    def replica_costs(self, counts: IntArray, upper: int) -> FloatArray:
        """$/hour of ``counts[offset]`` (each at most ``upper``) replicas in each candidate."""
        eligible = self.eligible
        return self.costs.costs(self.indices, counts, eligible.nodeless, eligible.nodeless_groups, upper)

    def cost_of(self, index: int, count: int) -> float:
        """$/hour of ``count`` replicas in the cluster at fleet ``index``."""
        return self.costs.cost(index, count)

    def egress_per_replica(self) -> FloatArray | None:
        """Weighted egress $/hour that one replica adds in each candidate (None: no egress)."""
        workload = self.workload
        if workload.egress_source is None or workload.egress_gb_per_hour <= 0 or workload.replicas == 0:
            return None
        if self._egress is None:
            per_replica_gb = workload.egress_gb_per_hour / workload.replicas
            rates = self.fleet.egress_rates(workload.egress_source)[0][self.indices]
            self._egress = rates * (per_replica_gb * self.policy.egress_weight)
        return self._egress

    def egress_of(self, index: int, count: int) -> float:
        """Weighted egress $/hour of ``count`` replicas in the cluster at fleet ``index``."""
        workload = self.workload
        if workload.egress_source is None or workload.egress_gb_per_hour <= 0 or workload.replicas == 0:
            return 0.0
        if self._egress_rates is None:
            self._egress_rates = self.fleet.egress_rates(workload.egress_source)[1]
        per_replica_gb = workload.egress_gb_per_hour / workload.replicas
        return count * per_replica_gb * self._egress_rates[index] * self.policy.egress_weight

    def offset_of(self, index: int) -> int | None:
        return self.eligible.offsets.get(index)


def gather(
    fleet: Fleet,
    workload: WorkloadSpec,
    policy: PlacementPolicy,
    current: CurrentPlacement,
    *,
    avoid: Collection[str],
    keep_current: bool,
) -> Candidates:
    eligible = fleet.eligible(policy.selector, workload.kind)
    indices = eligible.indices
    offsets = eligible.offsets
    costs = fleet.cost_model(workload.requests)
    fit = fleet.fits(indices, costs)
    elastic = fleet.elastic[indices]
    if elastic.any():
        # An elastic cluster (nodeless, or an autoscaler without limits) launches nodes for what it
        # runs: the room its limits allow may be unbounded. Its room for this workload is at most
        # the workload's replicas, so capacity weights and decision records stay real numbers and
        # an unlimited cluster does not drown the rooms other members report.
        fit[elastic] = np.minimum(fit[elastic], workload.replicas)
    avoided_indices: set[int] = set()
    avoided_offsets: list[int] = []
    if avoid:
        avoided_indices = {index for name in avoid if (index := fleet.lookup(name)) is not None}
        avoided_offsets = [offset for index in avoided_indices if (offset := offsets.get(index)) is not None]
        if avoided_offsets:
            fit[avoided_offsets] = 0

    current_counts = np.zeros(len(indices), dtype=np.int64)
    held: dict[int, int] = {}
    held_reason: dict[int, str] = {}
    dropped: dict[str, tuple[int, str]] = {}
    for cluster_id, count in current.replicas.items():
        if count <= 0:
            continue
        index = fleet.position_of_id(cluster_id)
        if index is None:
            dropped[cluster_id] = (count, "is no longer a member cluster")
            continue
        if index in avoided_indices:
            dropped[cluster_id] = (count, FilterReason.AVOIDED)
            continue
        offset = offsets.get(index)
        if offset is not None:
            current_counts[offset] = count
            continue
        reason = filter_reason(fleet.cluster(index), policy.selector, workload.kind) or FilterReason.SELECTOR
        if keep_current and reason in _HELD_REASONS:
            held[index] = count
            held_reason[index] = reason
        else:
            dropped[cluster_id] = (count, reason)

    ranks = fleet.name_rank[indices]
    has_holders = bool(current.replicas) and bool(np.count_nonzero(current_counts))
    return Candidates(
        fleet,
        workload,
        policy,
        eligible,
        costs,
        indices,
        fit,
        current_counts,
        fit + current_counts if has_holders else fit,
        (current_counts > 0).astype(np.int64) if has_holders else current_counts,
        has_holders,
        held,
        held_reason,
        dropped,
        len(avoided_offsets),
        -ranks if names_descending_for(workload.id) else ranks,
        current.seconds_since_change,
    )
