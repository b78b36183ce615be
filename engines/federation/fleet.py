"""A prepared, immutable view of the member clusters that many scheduling decisions share.

The federation loop takes one snapshot of its members per pass and schedules every new or changed
workload against it. ``Fleet`` turns the snapshots into arrays once and memoises what depends only
on the snapshot and on policy values (which clusters a selector admits, egress rates from a
source, packing-cost tables per request shape), so a decision costs little more than the
arithmetic that is specific to its workload. The memo tables never change an answer: they hold
pure functions of frozen inputs.

``Fleet.charge`` returns the fleet with a decision's new replicas subtracted from free capacity,
so decisions made in one pass do not all pile onto the same free slots (Karmada #6518).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from engines.federation.egress import DEFAULT_EGRESS_TABLE, EgressTable
from engines.federation.model import (
    ClusterMode,
    ClusterSnapshot,
    Location,
    NodelessPricing,
    ObservePricing,
    Resources,
    WorkloadKind,
)
from engines.federation.policy import ClusterSelector
from engines.federation.pricing import CostModel, PackingCost

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Stands in for "no pod-slot limit"; far above any replica count, far below int64 overflow.
_UNLIMITED = 2**40
_PODS = 3
_T = TypeVar("_T")


class FilterReason(StrEnum):
    """Why a cluster took no part in a decision (the keys of ``Decision.filtered``)."""

    SELECTOR = "does not match the cluster selector"
    KIND = "does not support the workload kind"
    UNREACHABLE = "unreachable"
    UNHEALTHY = "unhealthy"
    AVOIDED = "avoided by the federation loop"
    NO_ROOM = "has no room for one replica"


@dataclass(frozen=True, slots=True)
class EligibleSet:
    """Clusters that pass selector, kind and health, as fleet indices in fleet order;
    ``nodeless`` holds the offsets (positions in ``indices``) of the nodeless ones and
    ``nodeless_groups`` their price models."""

    indices: IntArray
    nodeless: IntArray
    nodeless_groups: IntArray
    filtered: tuple[tuple[FilterReason, int], ...]
    key: int  # unique within a fleet: keys per-selector memo entries of other tables
    offsets: dict[int, int]  # fleet index -> offset, for the clusters in ``indices``


class _FleetIndex:
    """The capacity-independent part of a fleet, shared by every charged copy."""

    def __init__(self, clusters: Sequence[ClusterSnapshot], egress_table: EgressTable) -> None:
        self.clusters = tuple(clusters)
        self.egress_table = egress_table
        self.ids = [cluster.id for cluster in self.clusters]
        self.names = [cluster.name for cluster in self.clusters]
        self.position: dict[str, int] = {}
        for index, cluster in enumerate(self.clusters):
            if cluster.id in self.position:
                raise ValueError(f"duplicate cluster id {cluster.id!r}")
            self.position[cluster.id] = index
        self.by_name = {cluster.name: index for index, cluster in enumerate(self.clusters)}
        order = sorted(range(len(self.clusters)), key=lambda index: (self.names[index], self.ids[index]))
        ranks = [0] * len(self.clusters)
        for rank, index in enumerate(order):
            ranks[index] = rank
        self.name_rank: IntArray = np.asarray(ranks, dtype=np.int64)
        self.locations = [cluster.location for cluster in self.clusters]
        self.pods_limited = any(cluster.free_pods is not None for cluster in self.clusters)
        elastic = [cluster.elastic or cluster.mode is ClusterMode.NODELESS for cluster in self.clusters]
        self.elastic: npt.NDArray[np.bool_] = np.asarray(elastic, dtype=np.bool_)
        self.pricing_models: list[NodelessPricing] = []
        group_of: list[int] = []
        model_group: dict[NodelessPricing, int] = {}
        for cluster in self.clusters:
            if isinstance(cluster.pricing, NodelessPricing):
                group = model_group.setdefault(cluster.pricing, len(model_group))
                if group == len(self.pricing_models):
                    self.pricing_models.append(cluster.pricing)
                group_of.append(group)
            else:
                group_of.append(-1)
        self.group_of: IntArray = np.asarray(group_of, dtype=np.int64)
        # Observe rates per unit of request: $/millicore-h, $/MiB-h, $/GPU-h (0 for nodeless).
        rates = [
            (p.cpu_core_hour / 1000, p.memory_gib_hour / 1024, p.gpu_hour)
            if isinstance(p := cluster.pricing, ObservePricing)
            else (0.0, 0.0, 0.0)
            for cluster in self.clusters
        ]
        self.unit_rates: FloatArray = np.asarray(rates, dtype=np.float64).reshape(len(self.clusters), 3)
        self._memo: dict[Hashable, object] = {}
        self.eligible_sets: list[EligibleSet] = []

    def memo(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        try:
            return self._memo[key]  # type: ignore[return-value]
        except KeyError:
            value = self._memo[key] = compute()
            return value


class Fleet:
    """Member clusters prepared for scheduling. Immutable: ``charge`` returns a new fleet."""

    __slots__ = ("_free", "_index")

    def __init__(
        self,
        clusters: Sequence[ClusterSnapshot],
        egress_table: EgressTable = DEFAULT_EGRESS_TABLE,
    ) -> None:
        self._index = _FleetIndex(clusters, egress_table)
        free = [
            (
                cluster.free.cpu_millicores,
                cluster.free.memory_mib,
                cluster.free.gpu,
                _UNLIMITED if cluster.free_pods is None else cluster.free_pods,
            )
            for cluster in clusters
        ]
        # One row per resource (cpu, memory, gpu, pod slots): a decision reads a few whole rows.
        self._free: IntArray = np.asarray(free, dtype=np.int64).reshape(len(free), 4).T.copy()

    @classmethod
    def _with_free(cls, index: _FleetIndex, free: IntArray) -> Fleet:
        fleet = cls.__new__(cls)
        fleet._index = index
        fleet._free = free
        return fleet

    # --- what the snapshot says -------------------------------------------------------------
    @property
    def clusters(self) -> tuple[ClusterSnapshot, ...]:
        return self._index.clusters

    @property
    def egress_table(self) -> EgressTable:
        return self._index.egress_table

    def __len__(self) -> int:
        return len(self._index.clusters)

    def cluster(self, index: int) -> ClusterSnapshot:
        return self._index.clusters[index]

    def lookup(self, id_or_name: str) -> int | None:
        """Fleet index of a cluster by id, else by name."""
        index = self._index.position.get(id_or_name)
        return self._index.by_name.get(id_or_name) if index is None else index

    def position_of_id(self, cluster_id: str) -> int | None:
        return self._index.position.get(cluster_id)

    @property
    def ids(self) -> list[str]:
        """Cluster ids in fleet order (do not modify)."""
        return self._index.ids

    @property
    def names(self) -> list[str]:
        """Cluster names in fleet order (do not modify)."""
        return self._index.names

    def name_of(self, index: int) -> str:
        return self._index.names[index]

    @property
    def name_rank(self) -> IntArray:
        return self._index.name_rank

    @property
    def group_of(self) -> IntArray:
        return self._index.group_of

    @property
    def elastic(self) -> npt.NDArray[np.bool_]:
        """Per cluster: its room grows with what it runs (``ClusterSnapshot.elastic``)."""
        return self._index.elastic

    def free_of(self, index: int) -> tuple[int, int, int, int]:
        cpu, memory, gpu, pods = (int(value) for value in self._free[:, index])
        return cpu, memory, gpu, pods

    # --- memoised, capacity-independent views -----------------------------------------------
    def memo(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """Memoise a pure function of the snapshot and ``key`` (shared by charged copies)."""
        return self._index.memo(key, compute)

    def eligible(self, selector: ClusterSelector, kind: WorkloadKind) -> EligibleSet:
        return self._index.memo(("eligible", selector, kind), lambda: self._eligible(selector, kind))

    def _eligible(self, selector: ClusterSelector, kind: WorkloadKind) -> EligibleSet:
        counts: dict[FilterReason, int] = {}
        keep: list[int] = []
        for index, cluster in enumerate(self._index.clusters):
            reason = filter_reason(cluster, selector, kind)
            if reason is None:
                keep.append(index)
            else:
                counts[reason] = counts.get(reason, 0) + 1
        indices = np.asarray(keep, dtype=np.int64)
        groups = self._index.group_of[indices]
        nodeless = np.flatnonzero(groups >= 0).astype(np.int64)
        key = len(self._index.eligible_sets)
        offsets = {index: offset for offset, index in enumerate(keep)}
        eligible = EligibleSet(
            indices, nodeless, groups[nodeless], tuple(sorted(counts.items())), key, offsets
        )
        self._index.eligible_sets.append(eligible)
        return eligible

    def cost_model(self, request: Resources) -> CostModel:
        """Prices of ``request`` replicas in every cluster (memoised per request shape)."""
        key = ("costs", request.cpu_millicores, request.memory_mib, request.gpu)
        return self._index.memo(key, lambda: self._cost_model(request))

    def _cost_model(self, request: Resources) -> CostModel:
        amounts = np.asarray((request.cpu_millicores, request.memory_mib, request.gpu), dtype=np.float64)
        packings = [PackingCost(model, request) for model in self._index.pricing_models]
        return CostModel(request, self._index.unit_rates @ amounts, self._index.group_of, packings)

    def egress_rates(self, source: Location) -> tuple[FloatArray, list[float]]:
        """$/GB from ``source`` to every cluster in fleet order, as an array and as a list."""
        return self._index.memo(("egress", source), lambda: self._egress_rates(source))

    def _egress_rates(self, source: Location) -> tuple[FloatArray, list[float]]:
        rates = [self._index.egress_table.rate(source, location) for location in self._index.locations]
        return np.asarray(rates, dtype=np.float64), rates

    # --- capacity ---------------------------------------------------------------------------
    def fits(self, indices: IntArray, costs: CostModel) -> IntArray:
        """Replicas that fit in each cluster's free capacity (0 where no node shape holds one)."""
        free = self._free
        fits: IntArray | None = None
        # Whole rows, then one gather: cheaper than gathering every row first.
        for resource, demand in enumerate(costs.demand):
            if demand and (resource != _PODS or self._index.pods_limited):
                room = free[resource] // demand
                fits = room if fits is None else np.minimum(fits, room, out=fits)
        assert fits is not None  # a replica always requests something
        if not costs.all_placeable:
            fits[~costs.placeable] = 0
        result: IntArray = fits[indices]
        return result

    def charge(self, added: Mapping[str, int], request: Resources) -> Fleet:
        """This fleet with ``added[cluster_id]`` more replicas of ``request`` running.

        Negative counts free capacity. Pass ``ScheduleResult.changes()`` so replicas that were
        already running (and already counted in the snapshot) are not charged twice.
        """
        free = self._free.copy()
        demand = (
            request.cpu_millicores,
            request.memory_mib,
            request.gpu,
            1 if self._index.pods_limited else 0,
        )
        rows = [(row, per_replica) for row, per_replica in zip(free, demand, strict=True) if per_replica]
        for cluster_id, count in added.items():
            index = self._index.position.get(cluster_id)
            if index is not None and count:
                # A handful of scalar updates beats building arrays for them.
                for row, per_replica in rows:
                    row[index] = max(0, int(row[index]) - count * per_replica)
        return Fleet._with_free(self._index, free)


def filter_reason(
    cluster: ClusterSnapshot, selector: ClusterSelector, kind: WorkloadKind
) -> FilterReason | None:
    if not selector.matches(cluster.labels):
        return FilterReason.SELECTOR
    if kind not in cluster.supported_kinds:
        return FilterReason.KIND
    if not cluster.reachable:
        return FilterReason.UNREACHABLE
    if not cluster.healthy:
        return FilterReason.UNHEALTHY
    return None
