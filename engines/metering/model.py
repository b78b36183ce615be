"""What metering takes and returns: node and pod samples of one interval, and the interval's usage.

Times are seconds since the epoch; prices are USD per hour; costs are USD. CPU is in cores, memory
in GiB and GPUs in devices, as floats: costs are proportional to them, so no integer unit helps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engines.kube.capacity import CapacityType

SECONDS_PER_HOUR = 3600.0

UNPRICED = "unpriced"  # a node whose price is unknown (on-premises, or a type no catalog sells)
CAPACITY_TYPES = (CapacityType.ON_DEMAND, CapacityType.SPOT, CapacityType.SERVERLESS, UNPRICED)


@dataclass(frozen=True, slots=True)
class Quantities:
    """CPU cores, GiB of memory and GPUs (a request, a usage, a capacity or an average demand)."""

    cpu: float = 0.0
    memory_gib: float = 0.0
    gpus: float = 0.0

    def __add__(self, other: Quantities) -> Quantities:
        return Quantities(self.cpu + other.cpu, self.memory_gib + other.memory_gib, self.gpus + other.gpus)

    def scaled(self, factor: float) -> Quantities:
        return Quantities(self.cpu * factor, self.memory_gib * factor, self.gpus * factor)

    def maximum(self, other: Quantities) -> Quantities:
        return Quantities(
            max(self.cpu, other.cpu), max(self.memory_gib, other.memory_gib), max(self.gpus, other.gpus)
        )


@dataclass(frozen=True, slots=True)
class Interval:
    """[start, end): one metering interval."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"an interval must end after it starts ({self.start} .. {self.end})")

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def overlap(self, start: float | None, end: float | None) -> tuple[float, float]:
        """The part of the interval inside [start, end) (None: unbounded), as (start, end); the
        two are equal when nothing overlaps."""
        low = self.start if start is None else max(self.start, start)
        high = self.end if end is None else min(self.end, end)
        return (low, high) if high > low else (low, low)


@dataclass(frozen=True, slots=True)
class NodeSample:
    """A node (or a serverless pod's micro-VM) that may have run during the interval.

    `price_per_hour` is what the organization pays after its discount (None when unknown);
    `on_demand_price_per_hour` is what an on-demand node of the same shape would cost it (None:
    the same as the price). The node's price is split over `capacity` into per-resource rates.
    Billing runs from `started_at` (None: before the interval) to `stopped_at` (None: still on).
    """

    name: str
    instance_type: str
    capacity_type: str
    zone: str
    price_per_hour: float | None
    capacity: Quantities
    allocatable: Quantities
    on_demand_price_per_hour: float | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    managed_node_id: str = ""

    @property
    def priced(self) -> bool:
        return self.price_per_hour is not None

    @property
    def billed_capacity_type(self) -> str:
        return self.capacity_type if self.priced else UNPRICED


@dataclass(frozen=True, slots=True)
class PodSample:
    """A pod seen on a node. `usage` is what a metrics source measured (None: not measured, so the
    request stands for it); `serverless_price_per_hour` is what the pod alone would cost on the
    serverless platform (None: no serverless shape holds it, e.g. a GPU pod)."""

    namespace: str
    name: str
    workload: str
    node_name: str
    requests: Quantities
    usage: Quantities | None = None
    started_at: float | None = None
    finished_at: float | None = None
    serverless_price_per_hour: float | None = None

    @property
    def allocated(self) -> Quantities:
        """OpenCost's rule: a pod is charged for max(request, usage) of each resource."""
        return self.requests if self.usage is None else self.requests.maximum(self.usage)

    @property
    def is_gpu(self) -> bool:
        return self.requests.gpus > 0


@dataclass(frozen=True, slots=True)
class NodeCost:
    name: str
    instance_type: str
    capacity_type: str
    zone: str
    managed_node_id: str
    price_per_hour: float | None
    seconds: float
    cost: float
    on_demand_cost: float
    allocated_cost: float

    @property
    def idle_cost(self) -> float:
        return self.cost - self.allocated_cost


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one group of pods (namespace, workload, capacity type of their nodes) cost in the
    interval, with what the same pods would have cost on on-demand nodes and on serverless.
    `idle` rows carry the part of the nodes' cost no pod was charged for."""

    namespace: str
    workload: str
    capacity_type: str
    idle: bool
    cost: float = 0.0
    on_demand_cost: float = 0.0
    serverless_cost: float = 0.0
    cpu_requested: float = 0.0  # core-seconds
    memory_requested: float = 0.0  # GiB-seconds
    gpu_requested: float = 0.0  # GPU-seconds
    pod_seconds: float = 0.0
    # Pod-seconds of pods no serverless shape holds (GPU or very large pods): they keep their actual
    # cost in the serverless baseline, so the page can say how much of it is a real comparison.
    serverless_unfit_pod_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class PoolDemand:
    """The demand a static pool must hold: average requests over an interval, the pod count, and
    the largest single pod (a pool's instance type must fit it). Rollups keep the maximum of
    every field, which is exactly what sizing a single-type pool for the peak needs."""

    cpu: float = 0.0
    memory_gib: float = 0.0
    gpus: float = 0.0
    pods: float = 0.0
    largest_cpu: float = 0.0
    largest_memory_gib: float = 0.0
    largest_gpus: float = 0.0

    @property
    def empty(self) -> bool:
        return self.pods <= 0

    def peak(self, other: PoolDemand) -> PoolDemand:
        return PoolDemand(*(max(a, b) for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[float, ...]:
        return (
            self.cpu,
            self.memory_gib,
            self.gpus,
            self.pods,
            self.largest_cpu,
            self.largest_memory_gib,
            self.largest_gpus,
        )


@dataclass(frozen=True, slots=True)
class ResourceSeconds:
    """Requested, allocatable and used resource-seconds (core-, GiB- and GPU-seconds)."""

    requested: Quantities = Quantities()
    allocatable: Quantities = Quantities()
    used: Quantities = Quantities()
    measured_pod_seconds: float = 0.0  # pod-seconds whose usage a metrics source measured


@dataclass(frozen=True, slots=True)
class IntervalUsage:
    """Everything metering records for one cluster and one interval."""

    interval: Interval
    nodes: tuple[NodeCost, ...]
    allocations: tuple[Allocation, ...]
    resources: ResourceSeconds
    cpu_pool: PoolDemand
    gpu_pool: PoolDemand
    node_seconds: dict[str, float] = field(default_factory=dict)  # by capacity type
    node_costs: dict[str, float] = field(default_factory=dict)  # by capacity type

    @property
    def node_cost(self) -> float:
        return sum(node.cost for node in self.nodes)

    @property
    def allocated_cost(self) -> float:
        return sum(row.cost for row in self.allocations if not row.idle)

    @property
    def idle_cost(self) -> float:
        return sum(row.cost for row in self.allocations if row.idle)

    @property
    def on_demand_cost(self) -> float:
        return sum(row.on_demand_cost for row in self.allocations)

    @property
    def serverless_cost(self) -> float:
        return sum(row.serverless_cost for row in self.allocations)
