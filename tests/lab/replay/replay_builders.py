"""Small hand-priced catalogs and pods for the replay tests.

Prices are chosen so that expected costs are easy to compute by hand: a `small` node costs
0.36 $/h, i.e. 0.0001 $ per second.
"""

from __future__ import annotations

from engines.planner import (
    CapacityType,
    Catalog,
    InstanceType,
    Offering,
    PlannerPolicy,
    PodRequest,
    Resources,
    ServerlessPricing,
    ServerlessShape,
)

ZONE = "z-a"
GIB = 1024
NO_RESERVE = Resources()
ON_DEMAND_ONLY = PlannerPolicy(capacity_types=frozenset({CapacityType.ON_DEMAND}))
EVERYTHING = PlannerPolicy(capacity_types=frozenset(CapacityType))


def instance(name: str, vcpu: int, memory_gib: int, *, gpus: int = 0, gpu_model: str = "") -> InstanceType:
    return InstanceType(
        name=name,
        family=name.split(".")[0],
        architecture="amd64",
        vcpu=vcpu,
        memory_mib=memory_gib * GIB,
        max_pods=110,
        system_reserve=NO_RESERVE,
        gpus=gpus,
        gpu_model=gpu_model,
        generation=5,
    )


SMALL = instance("m.small", 2, 8)  # 0.36 $/h on demand
LARGE = instance("m.large", 8, 32)  # 1.08 $/h: cheaper per vCPU than four small nodes
MEMORY = instance("r.mem", 2, 32)  # 0.5 $/h
GPU_A10 = instance("g.a10", 8, 32, gpus=1, gpu_model="A10G")
PRICES = {SMALL.name: 0.36, LARGE.name: 1.08, MEMORY.name: 0.5, GPU_A10.name: 1.44, "g.t4": 0.72}

FARGATE_SHAPES = (
    ServerlessShape(500, 1 * GIB),
    ServerlessShape(500, 2 * GIB),
    ServerlessShape(1000, 2 * GIB),
    ServerlessShape(1000, 4 * GIB),
    ServerlessShape(2000, 4 * GIB),
)
FARGATE = ServerlessPricing(
    service="fargate",
    architecture="amd64",
    spot=False,
    list_usd_per_vcpu_hour=0.04,
    list_usd_per_gib_hour=0.005,
    usd_per_vcpu_hour=0.04,
    usd_per_gib_hour=0.005,
)


def catalog(*types: InstanceType, spot_discount: float | None = None, serverless: bool = False) -> Catalog:
    """One zone; on-demand at `PRICES`, and spot at that price times (1 - discount) if given."""
    chosen = types or (SMALL,)
    offerings = []
    for instance_type in chosen:
        price = PRICES[instance_type.name]
        offerings.append(Offering(instance_type.name, ZONE, CapacityType.ON_DEMAND, price, price))
        if spot_discount is not None:
            spot = price * (1 - spot_discount)
            offerings.append(Offering(instance_type.name, ZONE, CapacityType.SPOT, spot, spot, 0, 0.0))
    return Catalog(
        provider="test",
        region="test-1",
        zones=(ZONE,),
        instance_types=tuple(chosen),
        offerings=tuple(offerings),
        serverless_shapes=FARGATE_SHAPES if serverless else (),
        serverless_pricing=(FARGATE,) if serverless else (),
    )


def request(
    uid: str,
    cpu_millis: int = 1000,
    memory_gib: float = 1,
    *,
    gpus: int = 0,
    gpu_models: frozenset[str] = frozenset(),
) -> PodRequest:
    return PodRequest(
        uid=uid,
        name=uid,
        requests=Resources(cpu_millis=cpu_millis, memory_mib=int(memory_gib * GIB), gpus=gpus),
        gpu_models=gpu_models,
    )
