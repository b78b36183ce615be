"""Recording intervals and rolling them up: exact sums, peaks kept, and re-metering never double counts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.models import AllocationRollup, ClusterRollup, Granularity, NodeUsage, UsageInterval
from billing.services.ledger import raw_usage_prune
from engines.metering import Interval, meter_interval
from tests.billing.ledger_builders import make_cluster, minutes, record_minutes, shop_nodes, shop_pods

pytestmark = pytest.mark.django_db

HOUR_ONE = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
MINUTE_COST = (0.096 + 0.0384) / 60


def _hourly(cluster, hour=HOUR_ONE) -> ClusterRollup:
    return ClusterRollup.objects.get(cluster=cluster, granularity=Granularity.HOUR, start=hour)


def test_an_hour_rollup_sums_its_minutes_and_the_day_sums_its_hours(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop")
    record_minutes(cluster, minutes(HOUR_ONE, 30))
    record_minutes(cluster, minutes(HOUR_ONE.replace(hour=11), 15))
    hourly = _hourly(cluster)
    assert float(hourly.node_cost) == pytest.approx(30 * MINUTE_COST)
    assert hourly.metered_seconds == 30 * 60
    assert hourly.spot_node_seconds == 30 * 60 and hourly.on_demand_node_seconds == 30 * 60
    daily = ClusterRollup.objects.get(
        cluster=cluster, granularity=Granularity.DAY, start=HOUR_ONE.replace(hour=0)
    )
    assert float(daily.node_cost) == pytest.approx(45 * MINUTE_COST)
    assert float(daily.spot_node_cost) == pytest.approx(45 * 0.0384 / 60)
    web = AllocationRollup.objects.get(
        cluster=cluster, granularity=Granularity.DAY, workload="Deployment/web", capacity_type="spot"
    )
    assert web.pod_seconds == 45 * 60
    allocated = AllocationRollup.objects.filter(cluster=cluster, granularity=Granularity.DAY).aggregate(
        total=Sum("cost")
    )["total"]
    assert float(allocated) == pytest.approx(float(daily.node_cost))


def test_re_metering_an_interval_replaces_it_instead_of_counting_it_twice(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop")
    starts = minutes(HOUR_ONE, 5)
    record_minutes(cluster, starts)
    before = (_hourly(cluster).node_cost, NodeUsage.objects.filter(cluster=cluster).count())
    record_minutes(cluster, starts[1:3])  # a worker runs two of them again
    record_minutes(cluster, starts)
    after = (_hourly(cluster).node_cost, NodeUsage.objects.filter(cluster=cluster).count())
    assert after == before
    assert UsageInterval.objects.filter(cluster=cluster).count() == 5
    assert float(before[0]) == pytest.approx(5 * MINUTE_COST)


def test_re_metering_with_other_pods_updates_the_rollups(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop")
    starts = minutes(HOUR_ONE, 3)
    record_minutes(cluster, starts)
    record_minutes(cluster, starts[:1], pods=[])  # the first minute again: no pods after all
    hourly = _hourly(cluster)
    assert float(hourly.node_cost) == pytest.approx(3 * MINUTE_COST)
    assert float(hourly.idle_cost) == pytest.approx(
        MINUTE_COST + 2 * float(UsageInterval.objects.get(cluster=cluster, start=starts[1]).idle_cost)
    )


def test_rollups_keep_the_peak_pool_demand_not_its_sum(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop")
    record_minutes(cluster, minutes(HOUR_ONE, 2))
    record_minutes(cluster, minutes(HOUR_ONE.replace(minute=2), 1), pods=shop_pods()[:1])
    hourly = _hourly(cluster)
    full = meter_interval(Interval(0, 60), shop_nodes(), shop_pods())
    assert hourly.cpu_pool_cpu == pytest.approx(full.cpu_pool.cpu)  # 2.5 cores, not 3 × anything
    assert hourly.cpu_pool_pods == pytest.approx(3)
    assert hourly.cpu_requested == pytest.approx(2 * 60 * 2.5 + 60 * 1)


def test_organizations_rows_never_mix(cast) -> None:
    mine, theirs = make_cluster(cast.org_a, "a"), make_cluster(cast.org_b, "b")
    record_minutes(mine, minutes(HOUR_ONE, 2))
    record_minutes(theirs, minutes(HOUR_ONE, 4))
    assert ClusterRollup.objects.get(cluster=mine, granularity=Granularity.HOUR).organization == cast.org_a
    assert AllocationRollup.objects.filter(organization=cast.org_a).exclude(cluster=mine).count() == 0


def test_pruning_drops_old_raw_intervals_and_keeps_the_rollups(cast) -> None:
    cluster = make_cluster(cast.org_a, "shop")
    record_minutes(cluster, minutes(HOUR_ONE, 3))
    assert raw_usage_prune(datetime(2026, 3, 12, tzinfo=UTC)) == 0
    assert raw_usage_prune(datetime(2026, 3, 20, tzinfo=UTC)) == 3
    assert not UsageInterval.objects.filter(cluster=cluster).exists()
    assert NodeUsage.objects.filter(cluster=cluster).count() == 0
    assert _hourly(cluster).node_cost == Decimal(str(round(3 * MINUTE_COST, 10))).quantize(Decimal("1e-10"))
