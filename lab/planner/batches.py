"""Random small batches over slices of a real catalog, as the provisioning loop sees them
(pure: randomness only from a seed).

A batch is 4-40 pending pods of a few deployments, planned over 10-60 offerings of a real
catalog (a handful of instance types of both architectures, in some zones, on-demand and spot).
Deployments may select a zone, a capacity type or an architecture, or ask for a node of their
own; the policy may cap pods per node; the cluster runs daemonsets and sometimes has a node
with free room, ready or still launching.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from engines.kube import labels as wk
from engines.kube.capacity import CapacityType
from engines.kube.labels import NodeSelectorRequirement, NodeSelectorTerm, Operator
from engines.kube.resources import Resources
from engines.planner.catalog import Catalog, InstanceType, Offering
from engines.planner.policy import PlannerPolicy
from engines.planner.types import ExistingNode, PodRequest, Snapshot

BATCH_PODS = (4, 40)
BATCH_OFFERINGS = (10, 60)
# Requests of the deployments in a batch: web-sized to batch-sized pods.
CPU_MILLIS = (100, 250, 500, 750, 1000, 1500, 2000, 3000, 4000)
MEMORY_MIB = (128, 256, 512, 1024, 2048, 3072, 4096, 8192, 12288)
MAX_PODS_PER_NODE = (None, None, 4, 8, 16)


@dataclass(frozen=True)
class Batch:
    snapshot: Snapshot
    policy: PlannerPolicy
    catalog: Catalog


def node_pool_types(catalog: Catalog) -> list[InstanceType]:
    """The types a batch draws from: current general-purpose, compute and memory shapes of up to
    16 vCPU without GPUs (what a node pool offers for ordinary pods)."""
    return [
        t
        for t in catalog.instance_types
        if t.current_generation
        and not t.gpus
        and not t.bare_metal
        and t.vcpu <= 16
        and t.family[:1] in {"c", "m", "r", "t"}
    ]


def small_batch(catalog: Catalog, seed: int, pool: list[InstanceType] | None = None) -> Batch:
    """One random batch over a slice of `catalog` (`pool`: `node_pool_types(catalog)`)."""
    rng = random.Random(seed)
    sliced = _slice(catalog, rng, pool if pool is not None else node_pool_types(catalog))
    zones = sorted({o.zone for o in sliced.offerings})
    arches = sorted({t.architecture for t in sliced.instance_types})
    pods: list[PodRequest] = []
    count = rng.randint(*BATCH_PODS)
    deployment = 0
    while len(pods) < count:
        replicas = min(rng.randint(1, 12), count - len(pods))
        template = _deployment(rng, deployment, zones, arches)
        pods += [
            replace(template, uid=f"d{deployment}-{i}", name=f"d{deployment}-{i}") for i in range(replicas)
        ]
        deployment += 1
    policy = PlannerPolicy(max_pods_per_node=rng.choice(MAX_PODS_PER_NODE))
    overhead = Resources(
        cpu_millis=rng.choice((0, 100, 200, 300)),
        memory_mib=rng.choice((0, 128, 256, 512)),
        pods=rng.randint(0, 3),
    )
    existing = tuple(_existing(rng, i, sliced, zones) for i in range(rng.choice((0, 0, 0, 1, 2))))
    return Batch(Snapshot(tuple(pods), existing, overhead, region=catalog.region), policy, sliced)


def _slice(catalog: Catalog, rng: random.Random, pool: list[InstanceType]) -> Catalog:
    """10-60 offerings of a few types drawn from `pool`, in a few zones."""
    target = rng.randint(*BATCH_OFFERINGS)
    zones = set(rng.sample(catalog.zones, rng.randint(1, min(3, len(catalog.zones)))))
    by_type: dict[str, list[Offering]] = {}
    for offering in catalog.offerings:
        if offering.zone in zones:
            by_type.setdefault(offering.instance_type, []).append(offering)
    candidates = [t for t in pool if t.name in by_type]
    rng.shuffle(candidates)
    types: list[InstanceType] = []
    offerings: list[Offering] = []
    for instance_type in candidates:
        if len(offerings) >= target:
            break
        types.append(instance_type)
        offerings += by_type[instance_type.name]
    offerings = offerings[:target] if len(offerings) > target else offerings
    kept = {o.instance_type for o in offerings}
    return replace(
        catalog,
        instance_types=tuple(t for t in types if t.name in kept),
        offerings=tuple(offerings),
        serverless_shapes=(),
        serverless_pricing=(),
    )


def _deployment(rng: random.Random, index: int, zones: list[str], arches: list[str]) -> PodRequest:
    selector: dict[str, str] = {}
    terms: tuple[NodeSelectorTerm, ...] = ()
    if rng.random() < 0.3:
        picked = rng.sample(zones, rng.randint(1, len(zones)))
        terms = (NodeSelectorTerm((NodeSelectorRequirement(wk.ZONE, Operator.IN, tuple(picked)),)),)
    if rng.random() < 0.3:
        selector[wk.CAPACITY_TYPE] = rng.choice(("spot", "on-demand"))
    if rng.random() < 0.3:
        selector[wk.ARCH] = rng.choice(arches)
    return PodRequest(
        uid=f"d{index}",
        name=f"d{index}",
        requests=Resources(cpu_millis=rng.choice(CPU_MILLIS), memory_mib=rng.choice(MEMORY_MIB)),
        node_selector=selector,
        required_node_affinity=terms,
        isolate=rng.random() < 0.1,
    )


def _existing(rng: random.Random, index: int, catalog: Catalog, zones: list[str]) -> ExistingNode:
    """A node with some free room: ready, or in flight (launched by an earlier pass)."""
    instance_type = rng.choice(catalog.instance_types)
    zone = rng.choice(zones)
    capacity = rng.choice((CapacityType.ON_DEMAND, CapacityType.SPOT))
    share = rng.choice((0.25, 0.5, 1.0))
    allocatable = instance_type.allocatable
    return ExistingNode(
        name=f"node-{index}",
        instance_type=instance_type.name,
        zone=zone,
        capacity_type=capacity,
        price_per_hour=0.0,
        free=Resources(
            cpu_millis=int(allocatable.cpu_millis * share),
            memory_mib=int(allocatable.memory_mib * share),
            ephemeral_mib=int(allocatable.ephemeral_mib * share),
            pods=max(int(10 * share), 1),
        ),
        labels={
            wk.ZONE: zone,
            wk.ARCH: instance_type.architecture,
            wk.CAPACITY_TYPE: capacity.aws_value,
            wk.INSTANCE_TYPE: instance_type.name,
        },
        ready=rng.random() < 0.5,
    )
