"""The catalog compiled into arrays: every offering the policy allows, with its allocatable.

Compiling once per plan keeps the hot loops in numpy: a node's feasible offerings are a
boolean mask over this table, and a fit test is one vectorized comparison.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engines.kube import labels as wk
from engines.kube.capacity import CapacityType
from engines.kube.labels import NodeSelectorRequirement
from engines.kube.resources import CPU, PODS, Resources
from engines.planner.catalog import WORST_INTERRUPTION_BUCKET, Catalog, InstanceType, Offering
from engines.planner.policy import InstanceRequirements, PlannerPolicy
from engines.planner.types import Snapshot

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class LabelColumn:
    """One label's value on every row of a table, interned: `codes` index into `values`."""

    codes: IntArray
    values: list[str | None]

    def evaluate(self, requirement: NodeSelectorRequirement) -> BoolArray:
        truth = np.fromiter((requirement.matches_value(v) for v in self.values), bool, len(self.values))
        return truth[self.codes]


def intern_column(raw: Iterable[str | None], size: int) -> LabelColumn:
    index: dict[str | None, int] = {}
    codes = np.fromiter((index.setdefault(value, len(index)) for value in raw), np.int64, size)
    return LabelColumn(codes, list(index))


@dataclass(slots=True)
class OfferingTable:
    """The offerings a policy allows, as parallel arrays (one row per offering)."""

    region: str
    types: list[InstanceType]
    offerings: list[Offering]
    type_of: IntArray
    alloc: IntArray
    price: FloatArray
    effective: FloatArray
    node_labels: dict[str, str]
    _columns: dict[str, LabelColumn] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.offerings)

    def label_column(self, key: str) -> LabelColumn:
        key = wk.canonical_key(key)
        column = self._columns.get(key)
        if column is None:
            column = self._build_column(key)
            self._columns[key] = column
        return column

    def _build_column(self, key: str) -> LabelColumn:
        per_offering = _OFFERING_LABELS.get(key)
        if per_offering is not None:
            return intern_column((per_offering(o) for o in self.offerings), len(self.offerings))
        per_type = _TYPE_LABELS.get(key)
        if per_type is not None:
            type_column = intern_column((per_type(t) for t in self.types), len(self.types))
            return LabelColumn(type_column.codes[self.type_of], type_column.values)
        constant = self.region if key == wk.REGION else "linux" if key == wk.OS else self.node_labels.get(key)
        return LabelColumn(np.zeros(len(self.offerings), np.int64), [constant])


_OFFERING_LABELS: dict[str, Callable[[Offering], str | None]] = {
    wk.ZONE: lambda o: o.zone,
    wk.CAPACITY_TYPE: lambda o: o.capacity_type.aws_value if o.capacity_type.is_instance else None,
}
_TYPE_LABELS: dict[str, Callable[[InstanceType], str | None]] = {
    wk.ARCH: lambda t: t.architecture,
    wk.INSTANCE_TYPE: lambda t: t.name,
    wk.INSTANCE_FAMILY: lambda t: t.family,
    wk.INSTANCE_GENERATION: lambda t: str(t.generation) if t.generation else None,
    wk.INSTANCE_CPU: lambda t: str(t.vcpu),
    wk.INSTANCE_MEMORY: lambda t: str(t.memory_mib),
    wk.INSTANCE_GPU_COUNT: lambda t: str(t.gpus),
    wk.INSTANCE_GPU_NAME: lambda t: t.gpu_model.lower() if t.gpu_model else None,
}


def type_labels(instance_type: InstanceType) -> dict[str, str]:
    """The labels a new node of this type carries because of its type (arch, family, GPUs...)."""
    found = {key: label(instance_type) for key, label in _TYPE_LABELS.items()}
    return {key: value for key, value in found.items() if value is not None}


# The labels of a new node whose values depend on the offering chosen (DaemonSet overhead reads them).
VARYING_LABELS = frozenset({*_OFFERING_LABELS, *_TYPE_LABELS, wk.HOSTNAME})


def type_allowed(instance_type: InstanceType, requirements: InstanceRequirements) -> bool:
    """Whether the policy's instance requirements admit this type."""
    r = requirements
    if r.families_allow and instance_type.family not in r.families_allow:
        return False
    if instance_type.family in r.families_deny:
        return False
    if r.architectures and instance_type.architecture not in r.architectures:
        return False
    if r.current_generation_only and not instance_type.current_generation:
        return False
    if r.min_vcpu is not None and instance_type.vcpu < r.min_vcpu:
        return False
    if r.max_vcpu is not None and instance_type.vcpu > r.max_vcpu:
        return False
    if r.min_memory_mib is not None and instance_type.memory_mib < r.min_memory_mib:
        return False
    if r.max_memory_mib is not None and instance_type.memory_mib > r.max_memory_mib:
        return False
    return not (r.gpu_models and instance_type.gpus and instance_type.gpu_model not in r.gpu_models)


def offering_allowed(offering: Offering, policy: PlannerPolicy, zones: frozenset[str]) -> bool:
    """Whether the policy (capacity types, spot bucket cap) and the snapshot's zones admit it."""
    if (
        offering.capacity_type not in policy.capacity_types
        or offering.capacity_type is CapacityType.SERVERLESS
    ):
        return False
    if zones and offering.zone not in zones:
        return False
    if offering.capacity_type is CapacityType.SPOT and policy.spot_max_interruption_bucket is not None:
        bucket = (
            WORST_INTERRUPTION_BUCKET
            if offering.interruption_bucket is None
            else offering.interruption_bucket
        )
        return bucket <= policy.spot_max_interruption_bucket
    return True


def runs_unlimited(instance_type: InstanceType, policy: PlannerPolicy) -> bool:
    """Whether a new node of this burstable type is planned in unlimited mode (see `PlannerPolicy`)."""
    return (
        instance_type.burstable
        and policy.burstable_unlimited
        and instance_type.unlimited_usd_per_vcpu_hour is not None
    )


def unlimited_surcharge(instance_type: InstanceType, policy: PlannerPolicy) -> float:
    """USD per hour added to every offering of the type in unlimited mode: the surplus credits of
    all its vCPUs busy above the baseline, the most its pods can run up (0 otherwise)."""
    if not runs_unlimited(instance_type, policy):
        return 0.0
    rate = instance_type.unlimited_usd_per_vcpu_hour or 0.0
    return instance_type.vcpu * (1.0 - instance_type.baseline_cpu_fraction) * rate


def new_node_allocatable(
    instance_type: InstanceType, policy: PlannerPolicy, daemonset_overhead: Resources
) -> tuple[int, int, int, int, int]:
    """What pods can use on a new node of this type: capacity minus system reserve, daemonsets
    and the policy's pod cap. GPUs are in milli-GPUs, as everywhere in the engine.

    A burstable type not run in unlimited mode offers pods only its baseline CPU, less the
    reserve and daemonsets (which spend credits like pods do): a pod that requests a full CPU
    would otherwise be throttled to the baseline once the credits run out."""
    allocatable = instance_type.allocatable - daemonset_overhead
    max_pods = instance_type.max_pods
    if policy.max_pods_per_node is not None:
        max_pods = min(max_pods, policy.max_pods_per_node)
    pods = max_pods - instance_type.system_reserve.pods - daemonset_overhead.pods
    vector = list(allocatable.clamped().as_vector())
    vector[PODS] = max(pods, 0)
    if instance_type.burstable and not runs_unlimited(instance_type, policy):
        baseline = (
            instance_type.baseline_cpu_millis
            - instance_type.system_reserve.cpu_millis
            - daemonset_overhead.cpu_millis
        )
        vector[CPU] = min(vector[CPU], max(baseline, 0))
    return (vector[0], vector[1], vector[2], vector[3], vector[4])


# Compiled tables of recent (catalog, policy, zones, daemonset overhead) combinations. Compiling
# walks every offering of the catalog (tens of milliseconds for AWS), and a provisioning loop plans
# the same cluster under the same policy every few hundred milliseconds.
_TABLE_CACHE_SIZE = 16
_TableKey = tuple[int, str, frozenset[str], Resources, tuple[tuple[str, Resources], ...]]
_table_cache: OrderedDict[_TableKey, tuple[Catalog, OfferingTable]] = OrderedDict()
_table_cache_lock = threading.Lock()


def offering_table(catalog: Catalog, policy: PlannerPolicy, snapshot: Snapshot) -> OfferingTable:
    """`build_offering_table` without filters, shared between plans of the same inputs. The
    shared table's arrays are read-only, so no plan can change what another one sees."""
    key = (
        id(catalog),
        repr(policy),
        snapshot.allowed_zones,
        snapshot.daemonset_overhead,
        tuple(sorted(snapshot.type_daemonset_overhead.items())),
    )
    with _table_cache_lock:
        cached = _table_cache.get(key)
        if cached is not None and cached[0] is catalog:  # the same object, not a reused id
            _table_cache.move_to_end(key)
            return cached[1]
    table = build_offering_table(catalog, policy, snapshot)
    for array in (table.type_of, table.alloc, table.price, table.effective):
        array.flags.writeable = False
    with _table_cache_lock:
        _table_cache[key] = (catalog, table)  # holding the catalog keeps its id from being reused
        while len(_table_cache) > _TABLE_CACHE_SIZE:
            _table_cache.popitem(last=False)
    return table


def build_offering_table(
    catalog: Catalog,
    policy: PlannerPolicy,
    snapshot: Snapshot,
    *,
    type_filter: Callable[[InstanceType], bool] | None = None,
    offering_filter: Callable[[Offering], bool] | None = None,
) -> OfferingTable:
    """Compile the offerings that the policy and the snapshot admit (or, with explicit
    filters, any other subset: the diagnosis of unschedulable pods relaxes them one by one)."""
    zones = snapshot.allowed_zones
    keep_type = type_filter or (lambda t: type_allowed(t, policy.instance_requirements))
    keep_offering = offering_filter or (lambda o: offering_allowed(o, policy, zones))
    type_index: dict[str, int] = {}
    types: list[InstanceType] = []
    type_alloc: list[tuple[int, int, int, int, int]] = []
    for instance_type in catalog.instance_types:
        if not keep_type(instance_type):
            continue
        vector = new_node_allocatable(instance_type, policy, snapshot.overhead_for(instance_type.name))
        if min(vector[0], vector[1], vector[PODS]) <= 0:
            continue  # nothing can run on it once the kubelet and daemonsets took their share
        type_index[instance_type.name] = len(types)
        types.append(instance_type)
        type_alloc.append(vector)
    offerings = [o for o in catalog.offerings if o.instance_type in type_index and keep_offering(o)]
    type_of = np.fromiter((type_index[o.instance_type] for o in offerings), np.int64, len(offerings))
    alloc_by_type = np.array(type_alloc, dtype=np.int64).reshape(len(types), 5)
    surcharge = np.array([unlimited_surcharge(t, policy) for t in types], dtype=np.float64)[type_of]
    return OfferingTable(
        region=catalog.region,
        types=types,
        offerings=offerings,
        type_of=type_of,
        alloc=alloc_by_type[type_of] if len(offerings) else np.zeros((0, 5), np.int64),
        price=np.fromiter((o.price for o in offerings), np.float64, len(offerings)) + surcharge,
        effective=np.fromiter(
            (o.price * (1.0 + policy.interruption_weight * o.interruption_cost_rate) for o in offerings),
            np.float64,
            len(offerings),
        )
        + surcharge,
        node_labels=dict(policy.node_labels),
    )


def fits_mask(alloc: IntArray, load: Sequence[int] | IntArray) -> BoolArray:
    """Rows of `alloc` that can hold `load` in every resource (a resource at a time: `np.all`
    over rows of five is several times slower on catalogs of thousands of offerings)."""
    wanted = np.asarray(load, dtype=np.int64)
    fits = np.ones(len(alloc), dtype=np.bool_)
    for resource in range(alloc.shape[1]):
        fits &= alloc[:, resource] >= wanted[resource]
    return fits
