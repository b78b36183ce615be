"""Right-sizing on the real database: the usage history metering keeps (one bounded row per workload
container and hour, OOM kills counted once, old hours pruned), and the recommendations read from it,
priced at the rates of the nodes the pods ran on and the ledger's average pods."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from billing.models import ContainerUsageHour
from billing.selectors.rightsizing import (
    recommendation_id,
    rightsizing_recommendations,
    rightsizing_summary,
)
from billing.services.samples import container_usage_from_metrics
from billing.services.usage_history import (
    USAGE_HISTORY_DAYS,
    usage_history_compact,
    usage_history_prune,
    usage_history_record,
)
from engines.metering import Quantities, split_node_price
from engines.metering.money import HOURS_PER_MONTH
from engines.metering.rightsizing import Confidence, Verdict
from engines.metering.windows import floor_day, floor_hour
from tests.billing.ledger_builders import make_cluster, shop_nodes
from tests.billing.rightsizing_builders import DB, ETL, WEB, read_of, record_reads, record_shop, shop_usage
from workers.tasks import metering_prune

pytestmark = pytest.mark.django_db
MIB = 1 / 1024
OD_RATES = split_node_price(0.096, Quantities(2, 8))  # the on-demand node od-1 the shop pods run on


def test_the_metrics_api_page_is_read_per_container() -> None:
    page = {
        "kind": "PodMetricsList",
        "items": [
            {
                "metadata": {"name": "web-1", "namespace": "shop"},
                "containers": [
                    {"name": "app", "usage": {"cpu": "250m", "memory": "512Mi"}},
                    {"name": "proxy", "usage": {"cpu": "12345678n", "memory": "64Mi"}},
                ],
            }
        ],
    }
    usage = container_usage_from_metrics(page)
    assert usage[("shop", "web-1")]["app"] == Quantities(0.25, 0.5)
    assert usage[("shop", "web-1")]["proxy"].cpu == pytest.approx(0.012345678)


def test_reads_in_one_hour_add_up_in_one_row_and_an_oom_kill_counts_once(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop-prod")
    hour = floor_hour(timezone.now())
    for minute, cpu in ((5, 0.2), (6, 0.4)):
        at = hour + timedelta(minutes=minute)
        usage = {pod.name: Quantities(cpu, 0.5) for pod in [*WEB, DB]}
        assert (
            usage_history_record(cluster, read=read_of([*WEB, DB], usage, at), nodes=shop_nodes(), now=at)
            == 2
        )
    web = ContainerUsageHour.objects.get(cluster=cluster, workload="Deployment/web", container="app")
    assert web.samples == 4 and sum(web.cpu_histogram.values()) == 4 and len(web.cpu_histogram) == 2
    assert (web.cpu_request, web.memory_request_gib, web.cpu_limit) == (1.0, 2.0, None)
    assert web.priced_samples == 4 and web.cpu_rate_sum == pytest.approx(4 * OD_RATES.cpu)
    db = ContainerUsageHour.objects.get(cluster=cluster, workload="StatefulSet/db")
    assert db.oom_events == ["uid-shop-db-0/2026-12-01T10:00:00Z"]  # seen twice, one kill
    assert db.memory_limit_gib == 1.0


def test_pods_the_metrics_api_did_not_measure_add_nothing(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop-prod")
    now = timezone.now()
    assert usage_history_record(cluster, read=read_of(WEB, {}, now), nodes=shop_nodes(), now=now) == 0
    usage_history_record(
        cluster, read=read_of(WEB, {"web-2": Quantities(0.2, 0.5)}, now), nodes=shop_nodes(), now=now
    )
    (row,) = ContainerUsageHour.objects.filter(cluster=cluster)
    assert row.hour == floor_hour(now) and row.samples == 1


def test_the_hourly_prune_drops_history_older_than_the_retention(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop-prod")
    now = timezone.now()
    for age in (timedelta(days=USAGE_HISTORY_DAYS, hours=1), timedelta(days=USAGE_HISTORY_DAYS - 1)):
        at = now - age
        usage_history_record(
            cluster, read=read_of(WEB, {"web-1": Quantities(0.2, 0.5)}, at), nodes=shop_nodes(), now=at
        )
    assert metering_prune() == 0  # no raw interval to drop: the count is the ledger's
    (kept,) = ContainerUsageHour.objects.filter(cluster=cluster)
    # the week-old hour is kept, merged into its day (days before yesterday are compacted)
    assert kept.whole_day and kept.hour == floor_day(now - timedelta(days=USAGE_HISTORY_DAYS - 1))
    assert usage_history_prune(now + timedelta(days=1)) == 1


@pytest.fixture
def shop(cast):
    cluster = make_cluster(cast.org_a, "shop-prod")
    record_shop(cluster)
    return cluster


def _by_workload(rows):
    return {row.workload: row for row in rows}


def test_an_oversized_deployment_gets_smaller_requests_and_its_saving_at_the_nodes_rates(cast, shop) -> None:
    rows = _by_workload(rightsizing_recommendations(cast.org_a, now=timezone.now()))
    web = rows["Deployment/web"]
    (app,) = web.containers
    recommended = app.recommendation.recommended
    assert web.verdict == Verdict.RESIZE and web.confidence == Confidence.MEDIUM  # 29 h of data
    assert web.replicas == pytest.approx(2.0) and web.samples == 60
    assert 0.2 * 1.15 <= recommended.cpu <= 0.2 * 1.05 * 1.15 + 0.001
    assert recommended.memory_gib == pytest.approx(0.5 * 1.15, abs=MIB)
    assert web.rates.cpu == pytest.approx(OD_RATES.cpu) and web.rates.memory_gib == pytest.approx(
        OD_RATES.memory_gib
    )
    expected = (
        ((1 - recommended.cpu) * OD_RATES.cpu + (2 - recommended.memory_gib) * OD_RATES.memory_gib)
        * 2
        * HOURS_PER_MONTH
    )
    assert web.monthly_saving == Decimal(str(expected)).quantize(Decimal("0.01")) > 0
    assert web.id == recommendation_id(str(shop.pk), "shop", "Deployment/web")
    assert web.kubectl.startswith("kubectl -n shop patch deployment web --type strategic -p ")
    assert '"name":"app"' in web.kubectl and '"memory":"589Mi"' in web.kubectl
    assert 'memory: "589Mi"' in web.manifest


def test_an_oom_killed_container_gets_more_memory_and_its_limit_keeps_the_ratio(cast, shop) -> None:
    db = _by_workload(rightsizing_recommendations(cast.org_a, now=timezone.now()))["StatefulSet/db"]
    (container,) = db.containers
    recommendation = container.recommendation
    assert recommendation.oom_kills == 1
    assert recommendation.recommended.memory_gib == pytest.approx(1.2, abs=MIB)
    assert recommendation.recommended.memory_gib > recommendation.current.memory_gib
    assert recommendation.limits[1] == pytest.approx(
        recommendation.recommended.memory_gib
    )  # limit was = request
    assert "statefulset db" in db.kubectl and '"limits":{"memory":"1229Mi"}' in db.kubectl


def test_a_workload_measured_twice_has_too_little_data_and_no_saving(cast, shop) -> None:
    rows = rightsizing_recommendations(cast.org_a, now=timezone.now())
    etl = _by_workload(rows)["Job/etl"]
    assert etl.verdict == Verdict.INSUFFICIENT_DATA and etl.confidence == Confidence.NONE
    assert etl.monthly_saving is None and etl.kubectl is None and etl.manifest is None
    assert "Too little data: 2 samples" in etl.containers[0].recommendation.reasons[0]
    summary = rightsizing_summary(rows)
    assert (summary.workloads, summary.to_resize, summary.insufficient_data) == (3, 2, 1)
    assert summary.monthly_saving == sum(row.monthly_saving for row in rows if row.monthly_saving is not None)
    assert (rows[0].monthly_saving or 0) >= (rows[1].monthly_saving or 0)  # the largest saving first


def test_filters_the_window_and_ids_that_do_not_change(cast, shop) -> None:
    now = timezone.now()
    week = rightsizing_recommendations(cast.org_a, now=now)
    day = rightsizing_recommendations(cast.org_a, now=now, window="24h")
    assert {row.id for row in week} == {row.id for row in day}
    web_day = _by_workload(day)["Deployment/web"]
    assert web_day.confidence == Confidence.LOW and web_day.samples == 48  # 24 reads × 2 pods
    batch = rightsizing_recommendations(cast.org_a, now=now, namespace="batch")
    assert [row.workload for row in batch] == ["Job/etl"]
    other = make_cluster(cast.org_a, "other")
    assert rightsizing_recommendations(cast.org_a, now=now, cluster_id=str(other.pk)) == []
    assert rightsizing_recommendations(cast.org_b, now=now) == []


def test_days_before_yesterday_are_merged_into_one_row_each_and_nothing_is_lost(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop-prod")
    record_reads(cluster, [*WEB, DB, ETL], shop_usage, hours=72)
    before = ContainerUsageHour.objects.filter(cluster=cluster)
    totals = before.aggregate(samples=Sum("samples"), rows=Count("id"))
    buckets: Counter[tuple[str, str]] = Counter()
    for row in before:
        buckets.update({(row.workload, key): count for key, count in row.cpu_histogram.items()})
    now = timezone.now()
    yesterday = floor_day(now) - timedelta(days=1)
    old_days = {floor_day(row.hour) for row in before if row.hour < yesterday}
    week = rightsizing_recommendations(cast.org_a, now=now)

    assert usage_history_compact(now) == len(old_days) >= 1
    assert usage_history_compact(now) == 0  # nothing left to merge
    after = ContainerUsageHour.objects.filter(cluster=cluster)
    merged = after.filter(whole_day=True)
    assert {row.hour for row in merged} == old_days
    assert all(row.hour >= yesterday for row in after.filter(whole_day=False))
    assert merged.filter(workload="Deployment/web").count() == len(old_days)  # one per day
    assert after.aggregate(samples=Sum("samples"))["samples"] == totals["samples"]
    assert after.count() < totals["rows"]
    merged_buckets: Counter[tuple[str, str]] = Counter()
    for row in after:
        merged_buckets.update({(row.workload, key): count for key, count in row.cpu_histogram.items()})
    assert merged_buckets == buckets
    compacted = rightsizing_recommendations(cast.org_a, now=now)
    assert [
        (row.id, row.samples, row.span_hours, row.monthly_saving, row.kubectl, row.containers)
        for row in compacted
    ] == [
        (row.id, row.samples, row.span_hours, row.monthly_saving, row.kubectl, row.containers) for row in week
    ]
