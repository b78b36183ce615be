"""Frozen inputs of the federation scheduler: workloads, member-cluster snapshots and their price models.

Everything here is plain data. The federation loop builds these from database rows and cluster
snapshots; the engine never reaches back to where they came from.

Price models (how the engine prices "the capacity this workload's replicas need in that cluster"):

- ``NodelessPricing``: we launch the compute, so the marginal price of n replicas is the cheapest
  packing of n identical replicas onto new nodes of the candidate shapes (the planner's cheapest
  offerings for the cluster). A shape holds ``min(cpu // r.cpu, memory // r.memory, gpu // r.gpu,
  max_pods)`` replicas; the cost is ``min Σ price_i · x_i`` subject to ``Σ per_node_i · x_i ≥ n``.
  See ``engines.federation.pricing`` for how that is solved exactly.
- ``ObservePricing``: someone else's autoscaler runs the nodes, so the workload is charged its
  requests at the nodes' per-resource rates: ``n · (cores · $/core-h + GiB · $/GiB-h + gpus · $/GPU-h)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

# Well-known cluster label keys used for locations and topology spread.
LABEL_CLOUD = "cloud"
LABEL_REGION = "region"
LABEL_ZONE = "zone"
LABEL_ENV = "env"

ON_PREM_CLOUD = "onprem"

_EMPTY_LABELS: Mapping[str, str] = MappingProxyType({})
_NO_REPLICAS: Mapping[str, int] = MappingProxyType({})


class WorkloadKind(StrEnum):
    DEPLOYMENT = "deployment"
    JOB = "job"


class ClusterMode(StrEnum):
    NODELESS = "nodeless"
    OBSERVE = "observe"


@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of compute: per replica (a request) or per cluster (free capacity)."""

    cpu_millicores: int = 0
    memory_mib: int = 0
    gpu: int = 0

    def __post_init__(self) -> None:
        if self.cpu_millicores < 0 or self.memory_mib < 0 or self.gpu < 0:
            raise ValueError(f"resources cannot be negative: {self}")

    def describe(self) -> str:
        text = f"{cpu_text(self.cpu_millicores)}, {memory_text(self.memory_mib)}"
        return f"{text}, {self.gpu} GPU" if self.gpu else text


def _trimmed(value: float, places: int) -> str:
    return f"{value:,.{places}f}".rstrip("0").rstrip(".")


def cpu_text(millicores: int) -> str:
    """CPU as people read it: ``250m CPU`` below a core, ``2 CPU``, ``95.25 CPU``."""
    if millicores < 1000:
        return f"{millicores}m CPU"
    return f"{_trimmed(millicores / 1000, 3)} CPU"


def memory_text(mib: int) -> str:
    """Memory as people read it: ``512 MiB`` below a GiB, ``4 GiB``, ``11,358.1 GiB``."""
    if mib < 1024:
        return f"{mib} MiB"
    return f"{_trimmed(mib / 1024, 1)} GiB"


@dataclass(frozen=True, slots=True)
class Location:
    """Where traffic starts or ends, for egress pricing. ``zone`` may be empty when unknown."""

    cloud: str
    region: str
    zone: str = ""


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """One federated workload as the engine sees it.

    ``id`` is the stable key that seeds tie-breaking, so two workloads with identical inputs
    may break ties differently while one workload always breaks them the same way.
    ``replicas`` is the Deployment's replicas or the Job's parallelism; ``requests`` are per replica.
    ``egress_gb_per_hour`` is the traffic the whole workload exchanges with ``egress_source``
    (for example its database); it is split evenly across replicas. ``namespace`` and ``labels``
    are carried for the loop (its workload selector picks the policy); the engine does not read them.
    """

    id: str
    kind: WorkloadKind
    replicas: int
    requests: Resources
    namespace: str = "default"
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY_LABELS)
    egress_gb_per_hour: float = 0.0
    egress_source: Location | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("workload id is required: it keys tie-breaking")
        if self.replicas < 0:
            raise ValueError(f"replicas must be >= 0, got {self.replicas}")
        if self.requests.cpu_millicores == 0 and self.requests.memory_mib == 0 and self.requests.gpu == 0:
            raise ValueError("a replica must request some CPU, memory or GPU to be placed by capacity")
        if self.egress_gb_per_hour < 0:
            raise ValueError(f"egress_gb_per_hour must be >= 0, got {self.egress_gb_per_hour}")


@dataclass(frozen=True, slots=True)
class NodeShape:
    """A node a nodeless cluster can launch: allocatable resources (after system reserve) and price."""

    name: str
    allocatable: Resources
    hourly_price: float
    max_pods: int = 110

    def __post_init__(self) -> None:
        if self.hourly_price < 0:
            raise ValueError(f"node shape {self.name}: hourly_price must be >= 0")
        if self.max_pods < 1:
            raise ValueError(f"node shape {self.name}: max_pods must be >= 1")

    def replicas_per_node(self, request: Resources) -> int:
        """How many identical replicas one node of this shape holds (0 when one does not fit)."""
        fit = self.max_pods
        if request.cpu_millicores:
            fit = min(fit, self.allocatable.cpu_millicores // request.cpu_millicores)
        if request.memory_mib:
            fit = min(fit, self.allocatable.memory_mib // request.memory_mib)
        if request.gpu:
            fit = min(fit, self.allocatable.gpu // request.gpu)
        return fit


@dataclass(frozen=True, slots=True)
class NodelessPricing:
    """Marginal price of a nodeless cluster: new nodes of these candidate shapes."""

    shapes: tuple[NodeShape, ...]

    def __post_init__(self) -> None:
        if not self.shapes:
            raise ValueError("a nodeless cluster needs at least one candidate node shape")


@dataclass(frozen=True, slots=True)
class ObservePricing:
    """Per-resource rates of an observe-mode cluster's nodes, in $/hour."""

    cpu_core_hour: float
    memory_gib_hour: float
    gpu_hour: float = 0.0

    def __post_init__(self) -> None:
        if min(self.cpu_core_hour, self.memory_gib_hour, self.gpu_hour) < 0:
            raise ValueError(f"rates must be >= 0: {self}")

    def replica_hourly(self, request: Resources) -> float:
        return (
            request.cpu_millicores / 1000 * self.cpu_core_hour
            + request.memory_mib / 1024 * self.memory_gib_hour
            + request.gpu * self.gpu_hour
        )


PriceModel = NodelessPricing | ObservePricing


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """A member cluster at one instant.

    ``free`` is what new replicas may use: for an observe cluster, allocatable minus requested;
    for a nodeless cluster, its provisioning-policy limits minus what it already runs (may be large).
    ``free_pods`` limits replicas by pod slots when known (None: no limit beyond resources).
    ``elastic``: its room grows with what it runs — nodes are launched for the replicas placed
    there, as a nodeless cluster's are (always elastic) or an observe cluster's own autoscaler
    without limits (a Karpenter NodePool with no ``spec.limits``). Its room for a workload is then
    at most the workload's replicas (``engines.federation.candidates``).
    A cluster is schedulable only when ``healthy`` and ``reachable``.
    """

    id: str
    name: str
    mode: ClusterMode
    free: Resources
    pricing: PriceModel
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY_LABELS)
    healthy: bool = True
    reachable: bool = True
    free_pods: int | None = None
    supported_kinds: frozenset[WorkloadKind] = frozenset(WorkloadKind)
    elastic: bool = False

    def __post_init__(self) -> None:
        expected = NodelessPricing if self.mode is ClusterMode.NODELESS else ObservePricing
        if not isinstance(self.pricing, expected):
            raise ValueError(
                f"cluster {self.name}: a {self.mode} cluster is priced with {expected.__name__}, "
                f"got {type(self.pricing).__name__}"
            )
        if self.free_pods is not None and self.free_pods < 0:
            raise ValueError(f"cluster {self.name}: free_pods must be >= 0")

    @property
    def location(self) -> Location:
        return Location(
            cloud=self.labels.get(LABEL_CLOUD, ""),
            region=self.labels.get(LABEL_REGION, ""),
            zone=self.labels.get(LABEL_ZONE, ""),
        )


@dataclass(frozen=True, slots=True)
class CurrentPlacement:
    """Where the workload runs now (cluster id → replicas) and how long that has been so.

    ``seconds_since_change`` feeds the fill-then-burst return rule; None means "unknown",
    which is treated as long enough ago.
    """

    replicas: Mapping[str, int] = field(default_factory=lambda: _NO_REPLICAS)
    seconds_since_change: float | None = None

    def __post_init__(self) -> None:
        for cluster_id, count in self.replicas.items():
            if count < 0:
                raise ValueError(f"current replicas on {cluster_id} cannot be negative")
