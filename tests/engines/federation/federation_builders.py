"""Small builders for federation engine tests: clusters, workloads and policies in one line each."""

from __future__ import annotations

from collections.abc import Mapping

from engines.federation import (
    ClusterMode,
    ClusterSnapshot,
    Location,
    NodelessPricing,
    NodeShape,
    ObservePricing,
    Resources,
    WorkloadKind,
    WorkloadSpec,
)

CORE = 1000
GIB = 1024


def observe_cluster(
    name: str,
    *,
    cores: float = 64,
    memory_gib: float = 256,
    gpus: int = 0,
    core_hour: float = 0.03,
    gib_hour: float = 0.004,
    gpu_hour: float = 1.0,
    healthy: bool = True,
    reachable: bool = True,
    free_pods: int | None = None,
    kinds: frozenset[WorkloadKind] = frozenset(WorkloadKind),
    labels: Mapping[str, str] | None = None,
    **more_labels: str,
) -> ClusterSnapshot:
    return ClusterSnapshot(
        id=f"id-{name}",
        name=name,
        mode=ClusterMode.OBSERVE,
        free=Resources(int(cores * CORE), int(memory_gib * GIB), gpus),
        pricing=ObservePricing(core_hour, gib_hour, gpu_hour),
        labels={**(labels or {}), **more_labels},
        healthy=healthy,
        reachable=reachable,
        free_pods=free_pods,
        supported_kinds=kinds,
    )


def shape(
    name: str, cores: float, memory_gib: float, price: float, gpus: int = 0, max_pods: int = 110
) -> NodeShape:
    return NodeShape(name, Resources(int(cores * CORE), int(memory_gib * GIB), gpus), price, max_pods)


DEFAULT_SHAPES = (
    shape("m.large", 2, 8, 0.096),
    shape("m.2xlarge", 8, 32, 0.384),
    shape("c.4xlarge", 16, 32, 0.68),
)


def nodeless_cluster(
    name: str,
    *,
    shapes: tuple[NodeShape, ...] = DEFAULT_SHAPES,
    cores: float = 2000,
    memory_gib: float = 8000,
    gpus: int = 0,
    healthy: bool = True,
    reachable: bool = True,
    labels: Mapping[str, str] | None = None,
    **more_labels: str,
) -> ClusterSnapshot:
    return ClusterSnapshot(
        id=f"id-{name}",
        name=name,
        mode=ClusterMode.NODELESS,
        free=Resources(int(cores * CORE), int(memory_gib * GIB), gpus),
        pricing=NodelessPricing(shapes),
        labels={**(labels or {}), **more_labels},
        healthy=healthy,
        reachable=reachable,
    )


def workload(
    replicas: int,
    *,
    cpu: float = 1,
    memory_gib: float = 1,
    gpus: int = 0,
    workload_id: str = "wl-1",
    kind: WorkloadKind = WorkloadKind.DEPLOYMENT,
    egress_gb_per_hour: float = 0.0,
    egress_source: Location | None = None,
) -> WorkloadSpec:
    return WorkloadSpec(
        id=workload_id,
        kind=kind,
        replicas=replicas,
        requests=Resources(int(cpu * CORE), int(memory_gib * GIB), gpus),
        egress_gb_per_hour=egress_gb_per_hour,
        egress_source=egress_source,
    )


def by_name(replicas: dict[str, int]) -> dict[str, int]:
    """Result replicas keyed by cluster name (builders give id ``id-<name>``)."""
    return {cluster_id.removeprefix("id-"): count for cluster_id, count in replicas.items()}


def ids(**counts: int) -> dict[str, int]:
    """A current placement keyed by cluster id, from names: ``ids(a=2, b=1)``."""
    return {f"id-{name}": count for name, count in counts.items()}
