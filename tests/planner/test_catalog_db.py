"""`manage.py load_catalog` stores the catalog idempotently and reads back the same catalog."""

from __future__ import annotations

import csv
import io
import shutil

import pytest
from django.core.management import call_command

from billing.models import InstanceType, Offering, ServerlessPrice, SpotPriceObservation
from billing.pricing import DEFAULT_DATA_DIR, build_aws_catalog
from billing.selectors import catalog_for_region, catalog_regions
from workers.planner import CapacityType, Discount

pytestmark = pytest.mark.django_db


def _load(*args: str) -> str:
    out = io.StringIO()
    call_command("load_catalog", "--provider", "aws", "--region", "us-east-1", *args, stdout=out)
    return out.getvalue()


def test_loading_twice_changes_nothing_the_second_time():
    first = _load()
    expected = build_aws_catalog("us-east-1")
    assert f"offerings: {len(expected.offerings)} created" in first
    assert Offering.objects.count() == len(expected.offerings)
    assert InstanceType.objects.filter(provider="aws").count() == len(expected.instance_types)
    observations = SpotPriceObservation.objects.count()
    second = _load()
    assert f"offerings: 0 created, 0 updated, {len(expected.offerings)} unchanged, 0 removed" in second
    assert SpotPriceObservation.objects.count() == observations
    assert ServerlessPrice.objects.count() == len(expected.serverless_pricing)


def test_the_stored_catalog_reads_back_as_the_in_memory_one():
    _load()
    expected = build_aws_catalog("us-east-1")
    stored = catalog_for_region(provider="aws", region="us-east-1")
    by_key = {(o.instance_type, o.zone, o.capacity_type): o for o in stored.offerings}
    assert len(by_key) == len(expected.offerings)
    for offering in expected.offerings:
        twin = by_key[(offering.instance_type, offering.zone, offering.capacity_type)]
        assert twin.list_price == pytest.approx(offering.list_price, abs=1e-8)
        assert twin.interruption_bucket == offering.interruption_bucket
    types = {t.name: t for t in stored.instance_types}
    for instance_type in expected.instance_types[::50]:
        assert types[instance_type.name] == instance_type
    assert sorted(stored.serverless_shapes, key=lambda s: (s.cpu_millis, s.memory_mib)) == sorted(
        expected.serverless_shapes, key=lambda s: (s.cpu_millis, s.memory_mib)
    )
    assert ("aws", "us-east-1", len(expected.offerings)) in catalog_regions()


def test_an_organization_discount_applies_to_the_stored_catalog():
    _load()
    discounted = catalog_for_region(provider="aws", region="us-east-1", discount=Discount(spot_pct=30))
    spot = [o for o in discounted.offerings if o.capacity_type is CapacityType.SPOT]
    assert spot and all(o.price == pytest.approx(o.list_price * 0.7) for o in spot)


def test_a_changed_spot_price_updates_the_offering_and_records_history(tmp_path):
    shutil.copytree(DEFAULT_DATA_DIR / "aws", tmp_path / "aws")
    for name in ("serverless_prices.csv", "fargate_shapes.csv"):
        shutil.copy(DEFAULT_DATA_DIR / name, tmp_path / name)
    _load("--data-dir", str(tmp_path))
    advisor = tmp_path / "aws" / "spot_advisor.csv"
    with advisor.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    target = next(r for r in rows if r["region"] == "us-east-1" and r["instance_type"] == "m5.large")
    target["savings_pct"] = str(int(target["savings_pct"]) - 10)
    with advisor.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = _load("--data-dir", str(tmp_path))
    zones = Offering.objects.filter(instance_type__name="m5.large", capacity_type="spot").count()
    assert f"offerings: 0 created, {zones} updated" in report
    history = SpotPriceObservation.objects.filter(offering__instance_type__name="m5.large")
    assert history.count() == 2 * zones
