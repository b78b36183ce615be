"""Writing the price catalog to the database."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.db import models, transaction

from billing.models import InstanceType, Offering, ServerlessPrice, ServerlessShape, SpotPriceObservation
from workers.planner.catalog import Catalog
from workers.planner.types import CapacityType

PRICE_PLACES = Decimal("0.00000001")
Key = TypeVar("Key", bound=Hashable)


def _price(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(PRICE_PLACES)


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def describe(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, {self.removed} removed"


@dataclass
class CatalogLoadReport:
    """What one load changed, per kind of row."""

    provider: str
    region: str
    tallies: dict[str, Tally] = field(default_factory=dict)

    def tally(self, kind: str) -> Tally:
        return self.tallies.setdefault(kind, Tally())

    @property
    def changed(self) -> bool:
        return any(t.created or t.updated or t.removed for t in self.tallies.values())


Row = TypeVar("Row", bound=models.Model)


def _sync(
    model: type[Row],
    existing: dict[Key, Row],
    wanted: dict[Key, dict[str, Any]],
    build: Callable[[Key, dict[str, Any]], Row],
    tally: Tally,
) -> dict[Key, Row]:
    """Create missing rows, update rows whose fields differ, count the rest; return all by key."""
    created: dict[Key, Row] = {}
    to_update: list[Row] = []
    fields_changed: set[str] = set()
    for key, values in wanted.items():
        row = existing.get(key)
        if row is None:
            created[key] = build(key, values)
            continue
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if changed:
            for name in changed:
                setattr(row, name, values[name])
            fields_changed.update(changed)
            to_update.append(row)
        else:
            tally.unchanged += 1
    model._default_manager.bulk_create(list(created.values()), batch_size=2000)
    if to_update:
        model._default_manager.bulk_update(
            to_update, sorted(fields_changed | {"updated_at"}), batch_size=2000
        )
    tally.created += len(created)
    tally.updated += len(to_update)
    return {**existing, **created}


@transaction.atomic
def catalog_load(*, catalog: Catalog) -> CatalogLoadReport:
    """Store one region's catalog at list prices. Running it again with the same catalog
    changes nothing; offerings no longer sold in the region are removed."""
    report = CatalogLoadReport(catalog.provider, catalog.region)
    types = _load_instance_types(catalog, report.tally("instance types"))
    offerings = _load_offerings(catalog, types, report.tally("offerings"))
    _observe_spot_prices(catalog, offerings, report.tally("spot price observations"))
    _load_serverless(catalog, report)
    return report


def _load_instance_types(catalog: Catalog, tally: Tally) -> dict[str, InstanceType]:
    existing = {row.name: row for row in InstanceType.objects.filter(provider=catalog.provider)}
    wanted = {
        t.name: {
            "family": t.family,
            "architecture": t.architecture,
            "vcpu": t.vcpu,
            "memory_mib": t.memory_mib,
            "max_pods": t.max_pods,
            "ephemeral_mib": t.ephemeral_mib,
            "gpu_count": t.gpus,
            "gpu_model": t.gpu_model,
            "gpu_memory_mib": t.gpu_memory_mib,
            "current_generation": t.current_generation,
            "generation": t.generation,
            "bare_metal": t.bare_metal,
            "reserved_cpu_millis": t.system_reserve.cpu_millis,
            "reserved_memory_mib": t.system_reserve.memory_mib,
            "reserved_ephemeral_mib": t.system_reserve.ephemeral_mib,
        }
        for t in catalog.instance_types
    }

    def build(name: str, values: dict[str, Any]) -> InstanceType:
        return InstanceType(provider=catalog.provider, name=name, **values)

    return _sync(InstanceType, existing, wanted, build, tally)


def _load_offerings(
    catalog: Catalog, types: dict[str, InstanceType], tally: Tally
) -> dict[tuple[str, str, str], Offering]:
    rows = Offering.objects.filter(
        instance_type__provider=catalog.provider, region=catalog.region
    ).select_related("instance_type")
    existing = {(row.instance_type.name, row.zone, row.capacity_type): row for row in rows}
    wanted = {
        (o.instance_type, o.zone, o.capacity_type.value): {
            "list_price": _price(o.list_price),
            "interruption_bucket": o.interruption_bucket,
            "interruption_cost_rate": o.interruption_cost_rate,
        }
        for o in catalog.offerings
    }

    def build(key: tuple[str, str, str], values: dict[str, Any]) -> Offering:
        name, zone, capacity_type = key
        return Offering(
            instance_type=types[name], region=catalog.region, zone=zone, capacity_type=capacity_type, **values
        )

    result = _sync(Offering, existing, wanted, build, tally)
    stale = [row.pk for key, row in existing.items() if key not in wanted]
    if stale:
        Offering.objects.filter(pk__in=stale).delete()
        tally.removed += len(stale)
    return {key: row for key, row in result.items() if key in wanted}


def _observe_spot_prices(
    catalog: Catalog, offerings: dict[tuple[str, str, str], Offering], tally: Tally
) -> None:
    spot = [o for o in catalog.offerings if o.capacity_type is CapacityType.SPOT]
    ids = [offerings[(o.instance_type, o.zone, o.capacity_type.value)].pk for o in spot]
    latest: dict[int, Decimal] = {}
    for observation in SpotPriceObservation.objects.filter(offering_id__in=ids).order_by(
        "offering_id", "-observed_at", "-id"
    ):
        latest.setdefault(observation.offering_id, observation.price)
    new = []
    for offering, offering_id in zip(spot, ids, strict=True):
        price = _price(offering.list_price)
        if latest.get(offering_id) == price:
            tally.unchanged += 1
        else:
            new.append(SpotPriceObservation(offering_id=offering_id, price=price))
    SpotPriceObservation.objects.bulk_create(new, batch_size=2000)
    tally.created += len(new)


def _load_serverless(catalog: Catalog, report: CatalogLoadReport) -> None:
    prices = report.tally("serverless prices")
    existing = {
        (row.service, row.architecture, row.spot): row
        for row in ServerlessPrice.objects.filter(provider=catalog.provider, region=catalog.region)
    }
    wanted = {
        (p.service, p.architecture, p.spot): {
            "usd_per_vcpu_hour": _price(p.list_usd_per_vcpu_hour),
            "usd_per_gib_hour": _price(p.list_usd_per_gib_hour),
            "memory_overhead_mib": p.memory_overhead_mib,
            "ephemeral_included_mib": p.ephemeral_included_mib,
            "max_ephemeral_mib": p.max_ephemeral_mib,
            "usd_per_extra_ephemeral_gib_hour": _price(p.list_usd_per_extra_ephemeral_gib_hour),
            "interruption_cost_rate": p.interruption_cost_rate,
        }
        for p in catalog.serverless_pricing
    }

    def build(key: tuple[str, str, bool], values: dict[str, Any]) -> ServerlessPrice:
        service, architecture, spot = key
        return ServerlessPrice(
            provider=catalog.provider,
            region=catalog.region,
            service=service,
            architecture=architecture,
            spot=spot,
            **values,
        )

    _sync(ServerlessPrice, existing, wanted, build, prices)
    _load_shapes(catalog, {p.service for p in catalog.serverless_pricing}, report.tally("serverless shapes"))


def _load_shapes(catalog: Catalog, services: Iterable[str], tally: Tally) -> None:
    for service in services:
        have = set(
            ServerlessShape.objects.filter(provider=catalog.provider, service=service).values_list(
                "cpu_millis", "memory_mib"
            )
        )
        wanted = {(s.cpu_millis, s.memory_mib) for s in catalog.serverless_shapes}
        ServerlessShape.objects.bulk_create(
            [
                ServerlessShape(provider=catalog.provider, service=service, cpu_millis=c, memory_mib=m)
                for c, m in sorted(wanted - have)
            ]
        )
        tally.created += len(wanted - have)
        tally.unchanged += len(wanted & have)
