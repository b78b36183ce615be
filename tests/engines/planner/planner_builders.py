"""Builders and an independent plan checker for the planner tests.

`check_plan` re-derives every rule from the public inputs (catalog dataclasses, pods, policy)
without using the engine's compiled arrays, so a bug there cannot hide from it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from engines.kube import labels as wk
from engines.kube.labels import untolerated_taints
from engines.planner import (
    CapacityType,
    Catalog,
    ExistingNode,
    InstanceType,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Offering,
    Operator,
    Plan,
    PlannerPolicy,
    PodRequest,
    Resources,
    ServerlessPricing,
    ServerlessShape,
    Snapshot,
)
from engines.planner.catalog import interruption_cost_rate

ZONES = ("z-a", "z-b", "z-c")
RESERVE = Resources(cpu_millis=100, memory_mib=256)
GIB = 1024


def instance(
    name: str,
    vcpu: int,
    memory_gib: int,
    *,
    max_pods: int = 29,
    architecture: str = "amd64",
    gpus: int = 0,
    gpu_model: str = "",
    family: str | None = None,
    generation: int = 5,
) -> InstanceType:
    return InstanceType(
        name=name,
        family=family or name.split(".")[0],
        architecture=architecture,
        vcpu=vcpu,
        memory_mib=memory_gib * GIB,
        max_pods=max_pods,
        system_reserve=RESERVE,
        gpus=gpus,
        gpu_model=gpu_model,
        generation=generation,
    )


# name -> (type, on-demand price, spot price or None, spot bucket, zones)
TINY_TYPES: dict[str, tuple[InstanceType, float, float | None, int, tuple[str, ...]]] = {
    "c5.large": (instance("c5.large", 2, 4), 0.085, 0.035, 0, ZONES),
    "c5.xlarge": (instance("c5.xlarge", 4, 8, max_pods=58), 0.17, 0.07, 1, ZONES),
    "m5.large": (instance("m5.large", 2, 8), 0.096, 0.04, 2, ZONES),
    "m5.2xlarge": (instance("m5.2xlarge", 8, 32, max_pods=58), 0.384, 0.16, 3, ZONES),
    "r5.4xlarge": (instance("r5.4xlarge", 16, 128, max_pods=234), 1.008, 0.4, 4, ("z-a", "z-b")),
    "c6g.large": (instance("c6g.large", 2, 4, architecture="arm64", generation=6), 0.068, 0.028, 0, ZONES),
    "c6g.4xlarge": (
        instance("c6g.4xlarge", 16, 32, max_pods=234, architecture="arm64", generation=6),
        0.544,
        0.2,
        1,
        ZONES,
    ),
    "g4dn.xlarge": (
        instance("g4dn.xlarge", 4, 16, gpus=1, gpu_model="T4", generation=4),
        0.526,
        0.21,
        1,
        ZONES,
    ),
    "g5.2xlarge": (instance("g5.2xlarge", 8, 32, gpus=1, gpu_model="A10G"), 1.212, None, 0, ("z-a",)),
    "p3.8xlarge": (
        instance("p3.8xlarge", 32, 244, max_pods=234, gpus=4, gpu_model="V100", generation=3),
        12.24,
        3.7,
        2,
        ("z-b",),
    ),
}
FARGATE_SHAPES = tuple(
    ServerlessShape(cpu, memory * GIB)
    for cpu, memories in (
        (250, (1, 2)),
        (500, (1, 2, 3, 4)),
        (1000, (2, 3, 4, 5, 6, 7, 8)),
        (2000, range(4, 17)),
    )
    for memory in memories
) + (ServerlessShape(250, 512),)
FARGATE = ServerlessPricing(
    service="fargate",
    architecture="amd64",
    spot=False,
    list_usd_per_vcpu_hour=0.04048,
    list_usd_per_gib_hour=0.004445,
    usd_per_vcpu_hour=0.04048,
    usd_per_gib_hour=0.004445,
)


def tiny_catalog(types: Iterable[str] | None = None, *, serverless: bool = True) -> Catalog:
    chosen = list(types) if types is not None else list(TINY_TYPES)
    offerings = []
    for name in chosen:
        _, on_demand, spot, bucket, zones = TINY_TYPES[name]
        for zone in zones:
            offerings.append(Offering(name, zone, CapacityType.ON_DEMAND, on_demand, on_demand))
            if spot is not None:
                offerings.append(
                    Offering(
                        name, zone, CapacityType.SPOT, spot, spot, bucket, interruption_cost_rate(bucket)
                    )
                )
    return Catalog(
        provider="aws",
        region="test-1",
        zones=ZONES,
        instance_types=tuple(TINY_TYPES[name][0] for name in chosen),
        offerings=tuple(offerings),
        serverless_shapes=FARGATE_SHAPES if serverless else (),
        serverless_pricing=(FARGATE,) if serverless else (),
    )


_counter = Counter[str]()


def pod(
    cpu: int = 500,
    memory_mib: int = 512,
    *,
    uid: str | None = None,
    gpus: int = 0,
    gpu_share: int = 0,
    namespace: str = "default",
    selector: Mapping[str, str] | None = None,
    affinity: Iterable[NodeSelectorRequirement] = (),
    **extra: object,
) -> PodRequest:
    if uid is None:
        _counter["pod"] += 1
        uid = f"pod-{_counter['pod']}"
    affinity = tuple(affinity)
    if affinity:
        extra["required_node_affinity"] = (NodeSelectorTerm(affinity),)
    return PodRequest(
        uid=uid,
        name=uid,
        namespace=namespace,
        requests=Resources(cpu_millis=cpu, memory_mib=memory_mib, gpus=gpus),
        gpu_share_milli=gpu_share,
        node_selector=dict(selector or {}),
        **extra,  # type: ignore[arg-type]
    )


def requirement(key: str, operator: Operator, *values: str) -> NodeSelectorRequirement:
    return NodeSelectorRequirement(key, operator, tuple(values))


_TYPES_BY_CATALOG: dict[int, tuple[Catalog, dict[str, InstanceType]]] = {}


def types_of(catalog: Catalog) -> dict[str, InstanceType]:
    """Instance types by name (kept per catalog object: the real AWS catalog has 1,200)."""
    entry = _TYPES_BY_CATALOG.get(id(catalog))
    if entry is None or entry[0] is not catalog:
        entry = (catalog, {t.name: t for t in catalog.instance_types})
        _TYPES_BY_CATALOG[id(catalog)] = entry
    return entry[1]


def offering_labels(
    catalog: Catalog, policy: PlannerPolicy, name: str, zone: str, capacity: str
) -> dict[str, str]:
    instance_type = types_of(catalog)[name]
    labels = dict(policy.node_labels)
    labels.update(
        {
            wk.ARCH: instance_type.architecture,
            wk.OS: "linux",
            wk.ZONE: zone,
            wk.REGION: catalog.region,
            wk.INSTANCE_TYPE: name,
            wk.CAPACITY_TYPE: capacity.replace("_", "-"),
            wk.INSTANCE_FAMILY: instance_type.family,
            wk.INSTANCE_CPU: str(instance_type.vcpu),
            wk.INSTANCE_MEMORY: str(instance_type.memory_mib),
            wk.INSTANCE_GPU_COUNT: str(instance_type.gpus),
        }
    )
    if instance_type.generation:
        labels[wk.INSTANCE_GENERATION] = str(instance_type.generation)
    if instance_type.gpu_model:
        labels[wk.INSTANCE_GPU_NAME] = instance_type.gpu_model.lower()
    return labels


def pod_matches(
    pod: PodRequest, labels: Mapping[str, str], default_architectures: frozenset[str] = frozenset()
) -> bool:
    """The pod's selector and affinity; where neither says anything about the architecture (per
    affinity term), the node's must be one of `default_architectures` (when any are given)."""
    if any(labels.get(wk.canonical_key(k)) != v for k, v in pod.node_selector.items()):
        return False
    selects_arch = any(wk.canonical_key(k) == wk.ARCH for k in pod.node_selector)
    default_ok = not default_architectures or labels.get(wk.ARCH) in default_architectures

    def term_ok(term: NodeSelectorTerm) -> bool:
        mentions = selects_arch or any(wk.canonical_key(r.key) == wk.ARCH for r in term.match_expressions)
        return term.matches(labels) and (mentions or default_ok)

    if not pod.required_node_affinity:
        return selects_arch or default_ok
    return any(term_ok(term) for term in pod.required_node_affinity)


def gpu_milli(pod: PodRequest, sharing: bool) -> int:
    """The documented GPU rule: whole GPUs, or a share counted as one GPU unless sharing is on,
    in which case the share rounds up to 1/8, 1/4, 1/2 or a whole device."""
    if pod.requests.gpus:
        return pod.requests.gpus * 1000
    if not pod.gpu_share_milli:
        return 0
    if not sharing:
        return 1000
    return next(size for size in (125, 250, 500, 1000) if size >= pod.gpu_share_milli)


def _fits(pods: list[PodRequest], capacity: tuple[int, int, int, int, int], sharing: bool) -> bool:
    cpu = sum(p.requests.cpu_millis for p in pods)
    memory = sum(p.requests.memory_mib for p in pods)
    gpu = sum(gpu_milli(p, sharing) for p in pods)
    ephemeral = sum(p.requests.ephemeral_mib for p in pods)
    return all(
        used <= free for used, free in zip((cpu, memory, gpu, ephemeral, len(pods)), capacity, strict=True)
    )


def surcharge(instance_type: InstanceType, policy: PlannerPolicy) -> float:
    """Unlimited mode's surplus credits for every vCPU above the baseline, when the policy opts in."""
    rate = instance_type.unlimited_usd_per_vcpu_hour
    if instance_type.baseline_cpu_fraction >= 1 or not policy.burstable_unlimited or rate is None:
        return 0.0
    return instance_type.vcpu * (1 - instance_type.baseline_cpu_fraction) * rate


def new_node_capacity(
    instance_type: InstanceType, policy: PlannerPolicy, snapshot: Snapshot
) -> tuple[int, int, int, int, int]:
    overhead = snapshot.daemonset_overhead
    max_pods = instance_type.max_pods
    if policy.max_pods_per_node is not None:
        max_pods = min(max_pods, policy.max_pods_per_node)
    reserve = instance_type.system_reserve
    cpu = instance_type.vcpu * 1000
    if instance_type.baseline_cpu_fraction < 1 and not surcharge(instance_type, policy):
        cpu = int(cpu * instance_type.baseline_cpu_fraction)  # what a burstable type sustains
    return (
        cpu - reserve.cpu_millis - overhead.cpu_millis,
        instance_type.memory_mib - reserve.memory_mib - overhead.memory_mib,
        instance_type.gpus * 1000 - overhead.gpus * 1000,
        instance_type.ephemeral_mib - reserve.ephemeral_mib - overhead.ephemeral_mib,
        max_pods - reserve.pods - overhead.pods,
    )


def offering_suits(
    catalog: Catalog, policy: PlannerPolicy, snapshot: Snapshot, offering: Offering, pods: list[PodRequest]
) -> bool:
    """Whether one node of this offering may run all these pods together (every rule)."""
    instance_type = types_of(catalog)[offering.instance_type]
    if offering.capacity_type not in policy.capacity_types:
        return False
    if snapshot.allowed_zones and offering.zone not in snapshot.allowed_zones:
        return False
    r = policy.instance_requirements
    if r.architectures and instance_type.architecture not in r.architectures:
        return False
    if r.families_allow and instance_type.family not in r.families_allow:
        return False
    if instance_type.family in r.families_deny:
        return False
    if r.max_vcpu is not None and instance_type.vcpu > r.max_vcpu:
        return False
    if r.min_vcpu is not None and instance_type.vcpu < r.min_vcpu:
        return False
    if offering.capacity_type is CapacityType.SPOT and policy.spot_max_interruption_bucket is not None:
        bucket = 4 if offering.interruption_bucket is None else offering.interruption_bucket
        if bucket > policy.spot_max_interruption_bucket:
            return False
    labels = offering_labels(
        catalog, policy, offering.instance_type, offering.zone, offering.capacity_type.value
    )
    for p in pods:
        if not pod_matches(p, labels, policy.default_architectures) or untolerated_taints(
            policy.node_taints, p.tolerations
        ):
            return False
        if p.wants_gpu and p.gpu_models and instance_type.gpu_model not in p.gpu_models:
            return False
    return _fits(pods, new_node_capacity(instance_type, policy, snapshot), policy.gpu_sharing)


def serverless_suits(
    catalog: Catalog, pod: PodRequest, shape_name: str, policy: PlannerPolicy, snapshot: Snapshot
) -> bool:
    """Fargate rules: no GPU, the request plus 256 MiB fits the shape, platform labels match."""
    shapes = {f"fargate-{s.label}": s for s in catalog.serverless_shapes}
    shape = shapes[shape_name]
    zones = snapshot.allowed_zones or catalog.zones
    platform = [
        {
            wk.ARCH: "amd64",
            wk.OS: "linux",
            wk.ZONE: zone,
            wk.REGION: catalog.region,
            wk.COMPUTE_TYPE: "fargate",
        }
        for zone in zones
    ]
    return (
        CapacityType.SERVERLESS in policy.capacity_types
        and not pod.wants_gpu
        and shape.cpu_millis >= pod.requests.cpu_millis
        and shape.memory_mib >= pod.requests.memory_mib + 256
        and any(pod_matches(pod, labels) for labels in platform)
    )


def suitable_offerings(
    catalog: Catalog, policy: PlannerPolicy, snapshot: Snapshot, pods: list[PodRequest]
) -> list[Offering]:
    """Every offering one node of which may run all these pods (big enough ones checked fully)."""
    cpu = sum(p.requests.cpu_millis for p in pods)
    memory = sum(p.requests.memory_mib for p in pods)
    types = types_of(catalog)
    return [
        o
        for o in catalog.offerings
        if types[o.instance_type].vcpu * 1000 >= cpu
        and types[o.instance_type].memory_mib >= memory
        and offering_suits(catalog, policy, snapshot, o, pods)
    ]


def cheapest_option(
    catalog: Catalog, policy: PlannerPolicy, snapshot: Snapshot, pods: list[PodRequest]
) -> float:
    weight = policy.interruption_weight
    types = types_of(catalog)
    options = [
        o.price * (1 + weight * o.interruption_cost_rate) + surcharge(types[o.instance_type], policy)
        for o in suitable_offerings(catalog, policy, snapshot, pods)
    ]
    if len(pods) == 1:
        for pricing in catalog.serverless_pricing:
            for shape in catalog.serverless_shapes:
                if serverless_suits(catalog, pods[0], f"fargate-{shape.label}", policy, snapshot):
                    options.append(
                        shape.cpu_millis / 1000 * pricing.usd_per_vcpu_hour
                        + shape.memory_mib / GIB * pricing.usd_per_gib_hour
                    )
    return min(options)


def _partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _partitions(rest):
        yield [[first], *partition]
        for i in range(len(partition)):
            yield [*partition[:i], [first, *partition[i]], *partition[i + 1 :]]


def brute_force_optimum(
    catalog: Catalog, snapshot: Snapshot, policy: PlannerPolicy, placed: list[PodRequest]
) -> float:
    """The cheapest plan for `placed` on new capacity, over every way of grouping them into nodes."""
    isolated = {p.uid for p in placed if policy.isolates(p)}
    cache: dict[tuple[int, ...], float] = {}

    def block_cost(block: list[int]) -> float:
        key = tuple(block)
        if key not in cache:
            members = [placed[i] for i in block]
            if len(members) > 1 and any(p.uid in isolated for p in members):
                cache[key] = math.inf
            else:
                try:
                    cache[key] = cheapest_option(catalog, policy, snapshot, members)
                except ValueError:
                    cache[key] = math.inf
        return cache[key]

    return min(sum(block_cost(b) for b in partition) for partition in _partitions(list(range(len(placed)))))


def check_plan(plan: Plan, snapshot: Snapshot, policy: PlannerPolicy, catalog: Catalog) -> None:
    """Every invariant a plan must keep, checked from first principles."""
    pods = {p.uid: p for p in snapshot.pods}
    seen = Counter(uid for launch in plan.launches for uid in launch.pod_uids)
    seen.update(binding.pod_uid for binding in plan.bindings)
    seen.update(u.pod_uid for u in plan.unschedulable)
    assert set(seen) == set(pods), "every pod is placed or reported, and no other"
    assert all(count == 1 for count in seen.values()), "no pod is placed twice"
    offerings = {(o.instance_type, o.zone, o.capacity_type): o for o in catalog.offerings}
    for launch in plan.launches:
        members = [pods[uid] for uid in launch.pod_uids]
        assert launch.offerings, "a launch has at least one offering"
        # The planner orders prices rounded to 1e-9 $/h (equal prices then by zone), so two prices
        # that differ only in float noise (0.22176 and 0.22175999999999998) count as equal.
        prices = [round(o.effective_price_per_hour, 9) for o in launch.offerings]
        assert prices == sorted(prices), "offerings are ordered cheapest first"
        acceptable = len(suitable_offerings(catalog, policy, snapshot, members))
        acceptable += any(o.capacity_type is CapacityType.SERVERLESS for o in launch.offerings)
        assert len(launch.decision.runner_ups) >= min(2, acceptable - 1), "two runner-ups when they exist"
        assert launch.chosen not in launch.decision.runner_ups
        for choice in launch.offerings:
            if choice.capacity_type is CapacityType.SERVERLESS:
                assert len(members) == 1
                assert serverless_suits(catalog, members[0], choice.instance_type, policy, snapshot)
                continue
            offering = offerings[(choice.instance_type, choice.zone, choice.capacity_type)]
            extra = surcharge(types_of(catalog)[offering.instance_type], policy)
            assert abs(offering.price + extra - choice.price_per_hour) < 1e-9
            assert offering_suits(catalog, policy, snapshot, offering, members), (
                f"{choice.instance_type} cannot run {launch.pod_uids}"
            )
        if launch.reserved_for_pod is not None:
            assert launch.pod_uids == (launch.reserved_for_pod,)
        cheapest = cheapest_option(catalog, policy, snapshot, members)
        assert launch.chosen.effective_price_per_hour <= cheapest + 1e-9, "every node is right-sized"
    existing = {n.name: n for n in snapshot.existing_nodes}
    placed: dict[str, list[PodRequest]] = {}
    for binding in plan.bindings:
        placed.setdefault(binding.node_name, []).append(pods[binding.pod_uid])
    for name, members in placed.items():
        node = existing[name]
        free = node.free
        capacity = (free.cpu_millis, free.memory_mib, free.gpus * 1000, free.ephemeral_mib, free.pods)
        assert _fits(members, capacity, policy.gpu_sharing), f"{name} is over capacity"
        for p in members:
            assert node.reserved_for_pod in (None, p.uid)
            assert pod_matches(p, node.labels) and not untolerated_taints(node.taints, p.tolerations)
    total = sum(launch.chosen.effective_price_per_hour for launch in plan.launches)
    assert abs(plan.cost_per_hour - total) < 1e-6
    assert plan.lp_lower_bound <= plan.cost_per_hour * (1 + 1e-9) + 1e-9


def existing_node(name: str, free: Resources, **extra: object) -> ExistingNode:
    return ExistingNode(
        name=name,
        instance_type=extra.pop("instance_type", "m5.2xlarge"),  # type: ignore[arg-type]
        zone=extra.pop("zone", "z-a"),  # type: ignore[arg-type]
        capacity_type=CapacityType.ON_DEMAND,
        price_per_hour=0.384,
        free=free,
        **extra,  # type: ignore[arg-type]
    )
