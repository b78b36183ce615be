"""Reading the price catalog from the database as the planner's `Catalog` (catalog only)."""

from __future__ import annotations

from django.db.models import Count

from billing.models import InstanceType, Offering, ServerlessPrice, ServerlessShape
from workers.planner.catalog import Catalog, Discount
from workers.planner.catalog import InstanceType as PlannerInstanceType
from workers.planner.catalog import Offering as PlannerOffering
from workers.planner.catalog import ServerlessPricing as PlannerServerlessPricing
from workers.planner.catalog import ServerlessShape as PlannerServerlessShape
from workers.planner.resources import Resources
from workers.planner.types import CapacityType


def catalog_regions() -> list[tuple[str, str, int]]:
    """(provider, region, number of offerings) for every region loaded, sorted."""
    rows = (
        Offering.objects.values_list("instance_type__provider", "region")
        .annotate(offerings=Count("id"))
        .order_by("instance_type__provider", "region")
    )
    return [(provider, region, count) for provider, region, count in rows]


def catalog_for_region(*, provider: str, region: str, discount: Discount | None = None) -> Catalog:
    """The stored catalog of one region, priced for an organization when a discount is given."""
    offerings = list(
        Offering.objects.filter(instance_type__provider=provider, region=region)
        .order_by("instance_type__name", "zone", "capacity_type")
        .values_list(
            "instance_type__name",
            "zone",
            "capacity_type",
            "list_price",
            "interruption_bucket",
            "interruption_cost_rate",
        )
    )
    names = {row[0] for row in offerings}
    types = [_instance_type(row) for row in InstanceType.objects.filter(provider=provider, name__in=names)]
    pricing = [_serverless(row) for row in ServerlessPrice.objects.filter(provider=provider, region=region)]
    services = {p.service for p in pricing}
    shapes = ServerlessShape.objects.filter(provider=provider, service__in=services).values_list(
        "cpu_millis", "memory_mib"
    )
    catalog = Catalog(
        provider=provider,
        region=region,
        zones=tuple(sorted({row[1] for row in offerings})),
        instance_types=tuple(types),
        offerings=tuple(
            PlannerOffering(name, zone, CapacityType(capacity), float(price), float(price), bucket, rate)
            for name, zone, capacity, price, bucket, rate in offerings
        ),
        serverless_shapes=tuple(PlannerServerlessShape(cpu, memory) for cpu, memory in sorted(set(shapes))),
        serverless_pricing=tuple(pricing),
    )
    return catalog.with_discount(discount) if discount is not None else catalog


def _instance_type(row: InstanceType) -> PlannerInstanceType:
    return PlannerInstanceType(
        name=row.name,
        family=row.family,
        architecture=row.architecture,
        vcpu=row.vcpu,
        memory_mib=row.memory_mib,
        max_pods=row.max_pods,
        system_reserve=Resources(
            cpu_millis=row.reserved_cpu_millis,
            memory_mib=row.reserved_memory_mib,
            ephemeral_mib=row.reserved_ephemeral_mib,
        ),
        ephemeral_mib=row.ephemeral_mib,
        gpus=row.gpu_count,
        gpu_model=row.gpu_model,
        gpu_memory_mib=row.gpu_memory_mib,
        current_generation=row.current_generation,
        generation=row.generation,
        bare_metal=row.bare_metal,
    )


def _serverless(row: ServerlessPrice) -> PlannerServerlessPricing:
    return PlannerServerlessPricing(
        service=row.service,
        architecture=row.architecture,
        spot=row.spot,
        list_usd_per_vcpu_hour=float(row.usd_per_vcpu_hour),
        list_usd_per_gib_hour=float(row.usd_per_gib_hour),
        usd_per_vcpu_hour=float(row.usd_per_vcpu_hour),
        usd_per_gib_hour=float(row.usd_per_gib_hour),
        memory_overhead_mib=row.memory_overhead_mib,
        ephemeral_included_mib=row.ephemeral_included_mib,
        max_ephemeral_mib=row.max_ephemeral_mib,
        list_usd_per_extra_ephemeral_gib_hour=float(row.usd_per_extra_ephemeral_gib_hour),
        usd_per_extra_ephemeral_gib_hour=float(row.usd_per_extra_ephemeral_gib_hour),
        interruption_cost_rate=row.interruption_cost_rate,
    )
