"""The baselines on small known sets: static pool sizing, serverless and on-demand prices from a
catalog, the savings report's split and totals, and report windows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engines.metering import (
    IDLE_GROUP,
    IDLE_LABEL,
    CatalogPrices,
    GroupCosts,
    PoolCandidate,
    PoolDemand,
    Quantities,
    StaticPool,
    WindowError,
    cheapest_pool,
    offering_from_labels,
    parse_window,
    projected_month_end,
    rollup_ranges,
    savings_report,
)
from engines.metering.pools import NO_POOL, pareto_candidates
from engines.planner import (
    CapacityType,
    Catalog,
    Discount,
    InstanceType,
    Offering,
    Resources,
    ServerlessPricing,
    ServerlessShape,
)

SMALL = PoolCandidate("small", 0.10, Quantities(2, 8), max_pods=29)
LARGE = PoolCandidate("large", 0.19, Quantities(4, 16), max_pods=58)
GPU = PoolCandidate("gpu", 1.00, Quantities(4, 16, 1), max_pods=29)


def sized(demand: PoolDemand, candidates) -> StaticPool:
    pool = cheapest_pool(demand, candidates)
    assert pool is not None
    return pool


def demand(cpu=0.0, memory=0.0, gpus=0.0, pods=1.0, largest_cpu=0.5, largest_memory=1.0, largest_gpus=0.0):
    return PoolDemand(cpu, memory, gpus, pods, largest_cpu, largest_memory, largest_gpus)


def test_the_static_pool_is_the_cheapest_single_type_holding_the_peak() -> None:
    # 5 cores: 3 small nodes ($0.30) beat 2 large ones ($0.38).
    pool = sized(demand(cpu=5, memory=10, pods=3), [SMALL, LARGE])
    assert (pool.instance_type, pool.nodes) == ("small", 3) and pool.cost_per_hour == pytest.approx(0.30)
    # Memory-bound: 30 GiB needs 4 small ($0.40) or 2 large ($0.38).
    pool = sized(demand(cpu=1, memory=30, pods=3), [SMALL, LARGE])
    assert (pool.instance_type, pool.nodes) == ("large", 2)
    # A 3-core pod does not fit a small node at all.
    pool = sized(demand(cpu=5, memory=10, pods=3, largest_cpu=3), [SMALL, LARGE])
    assert (pool.instance_type, pool.nodes) == ("large", 2)
    # 100 tiny pods: the pod limit (29 per small node) decides.
    pool = sized(demand(cpu=1, memory=1, pods=100), [SMALL])
    assert pool.nodes == 4


def test_gpu_demand_needs_gpu_nodes_and_no_demand_needs_no_pool() -> None:
    pool = sized(demand(cpu=2, memory=8, gpus=3, pods=3, largest_gpus=1), [SMALL, LARGE, GPU])
    assert (pool.instance_type, pool.nodes) == ("gpu", 3) and pool.cost_per_hour == pytest.approx(3.0)
    assert cheapest_pool(PoolDemand(), [SMALL]) is NO_POOL
    assert cheapest_pool(demand(cpu=1, largest_cpu=64), [SMALL, LARGE]) is None


def test_dominated_candidates_are_dropped_and_never_change_the_pool() -> None:
    dearer_same = PoolCandidate("small-dear", 0.12, Quantities(2, 8), max_pods=29)
    kept = pareto_candidates([LARGE, dearer_same, SMALL, GPU])
    assert [c.instance_type for c in kept] == ["small", "large", "gpu"]


def _catalog() -> Catalog:
    reserve = Resources(cpu_millis=70, memory_mib=574)
    return Catalog(
        provider="aws",
        region="test-1",
        zones=("test-1a", "test-1b"),
        instance_types=(InstanceType("m5.large", "m5", "amd64", 2, 8192, 29, reserve),),
        offerings=(
            Offering("m5.large", "test-1a", CapacityType.ON_DEMAND, 0.096, 0.096),
            Offering("m5.large", "test-1b", CapacityType.ON_DEMAND, 0.100, 0.100),
            Offering("m5.large", "test-1a", CapacityType.SPOT, 0.040, 0.040),
        ),
        serverless_shapes=(
            ServerlessShape(250, 512),
            ServerlessShape(500, 1024),
            ServerlessShape(1000, 2048),
        ),
        serverless_pricing=(
            ServerlessPricing(
                "fargate",
                "x86_64",
                spot=False,
                list_usd_per_vcpu_hour=0.04,
                list_usd_per_gib_hour=0.004,
                usd_per_vcpu_hour=0.04,
                usd_per_gib_hour=0.004,
            ),
        ),
    )


def test_catalog_prices_apply_the_organizations_discount() -> None:
    prices = CatalogPrices(
        _catalog().with_discount(Discount(on_demand_pct=20, spot_pct=10, serverless_pct=50))
    )
    assert prices.price("m5.large", "test-1a", "on_demand") == pytest.approx(0.096 * 0.8)
    assert prices.price("m5.large", "test-1a", "spot") == pytest.approx(0.040 * 0.9)
    assert prices.on_demand_price("m5.large", "elsewhere") == pytest.approx(0.096 * 0.8)  # cheapest zone
    assert prices.price("unknown.type", "test-1a", "on_demand") is None
    # 0.3 vCPU / 0.5 GiB + 256 MiB overhead → the 0.5 vCPU / 1 GiB shape: (0.5 × 0.04 + 1 × 0.004) × 50 %.
    assert prices.serverless_price(Quantities(0.3, 0.5)) == pytest.approx((0.5 * 0.04 + 1 * 0.004) * 0.5)
    assert prices.serverless_price(Quantities(0.1, 0.1, 1)) is None  # GPU pods have no serverless shape
    assert prices.serverless_price(Quantities(4, 1)) is None  # larger than every shape
    (candidate,) = prices.pool_candidates()
    assert candidate.instance_type == "m5.large" and candidate.price_per_hour == pytest.approx(0.096 * 0.8)
    assert candidate.allocatable.cpu == pytest.approx(1.93)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (
            {
                "node.kubernetes.io/instance-type": "m5.large",
                "topology.kubernetes.io/zone": "us-east-1a",
                "karpenter.sh/capacity-type": "spot",
            },
            ("m5.large", "us-east-1a", "spot"),
        ),
        (
            {"beta.kubernetes.io/instance-type": "c5.xlarge", "eks.amazonaws.com/capacityType": "ON_DEMAND"},
            ("c5.xlarge", "", "on_demand"),
        ),
        ({"node.kubernetes.io/instance-type": "m5.large"}, ("m5.large", "", "on_demand")),
        ({"eks.amazonaws.com/compute-type": "fargate"}, ("", "", "serverless")),
    ],
)
def test_nodes_are_priced_from_their_well_known_labels(labels, expected) -> None:
    assert offering_from_labels(labels) == expected


def _groups():
    return [
        GroupCosts("c1", "shop", "shop", idle=False, cost=6, on_demand_cost=10, serverless_cost=8),
        GroupCosts("c1", "batch", "batch", idle=False, cost=2, on_demand_cost=10, serverless_cost=3),
        GroupCosts("c1", "c1", IDLE_LABEL, idle=True, cost=2, on_demand_cost=5, serverless_cost=0),
        GroupCosts("c2", "shop", "shop", idle=False, cost=1, on_demand_cost=4, serverless_cost=2),
    ]


def test_the_savings_report_splits_each_clusters_pool_by_on_demand_share_and_sums_to_the_total() -> None:
    report = savings_report(_groups(), {"c1": 30.0, "c2": 8.0})
    rows = {row.label: row for row in report.rows}
    assert [row.label for row in report.rows] == ["shop", "batch", IDLE_LABEL]  # dearest first, idle last
    assert (
        rows["shop"].actual,
        rows["shop"].static_pool,
        rows["shop"].on_demand_only,
        rows["shop"].serverless_only,
    ) == (7, 15 + 8, 14, 10)
    assert (rows["batch"].static_pool, rows["batch"].versus_static_pool) == (15, 13)
    assert (rows[IDLE_LABEL].actual, rows[IDLE_LABEL].static_pool, rows[IDLE_LABEL].on_demand_only) == (
        2,
        0,
        5,
    )
    total = report.total
    assert (total.actual, total.static_pool, total.on_demand_only, total.serverless_only) == (11, 38, 29, 13)
    assert total.versus_static_pool_pct == pytest.approx(100 * 27 / 38)


def test_grouping_by_cluster_shows_idle_apart_and_a_podless_pool_goes_to_idle() -> None:
    groups = [
        GroupCosts("c1", "c1", "one", idle=False, cost=8, on_demand_cost=20, serverless_cost=11),
        GroupCosts("c1", IDLE_GROUP, IDLE_LABEL, idle=True, cost=2, on_demand_cost=5, serverless_cost=0),
        GroupCosts("c3", IDLE_GROUP, IDLE_LABEL, idle=True, cost=4, on_demand_cost=4, serverless_cost=0),
    ]
    report = savings_report(groups, {"c1": 30.0, "c3": 6.0, "c4": 1.0})
    rows = {row.group: row for row in report.rows}
    assert [row.label for row in report.rows] == ["one", IDLE_LABEL]
    assert (rows["c1"].actual, rows["c1"].static_pool) == (8, 30)
    assert (rows[IDLE_GROUP].actual, rows[IDLE_GROUP].static_pool) == (6, 7)  # c3's and c4's pools
    assert report.total.static_pool == 37  # c4 has a pool but no rows: it still counts


def test_the_projection_adds_the_rest_of_the_month_at_the_recent_rate() -> None:
    assert projected_month_end(100.0, 48.0, 24.0, 10 * 24) == pytest.approx(100 + 2 * 240)
    assert projected_month_end(100.0, 0.0, 0.0, 240) == 100


NOW = datetime(2026, 3, 10, 14, 25, tzinfo=UTC)


def test_windows_end_with_the_current_hour_and_read_whole_days_from_daily_rollups() -> None:
    week = parse_window("7d", NOW)
    assert (week.start, week.end, week.step) == (
        datetime(2026, 3, 3, 15, tzinfo=UTC),
        datetime(2026, 3, 10, 15, tzinfo=UTC),
        "day",
    )
    ranges = rollup_ranges(week.start, week.end)
    assert ranges.days == (datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC))
    assert ranges.hours == (
        (datetime(2026, 3, 3, 15, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)),
        (datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 10, 15, tzinfo=UTC)),
    )
    today = parse_window("today", NOW)
    assert (today.start, today.end, today.step) == (
        datetime(2026, 3, 10, tzinfo=UTC),
        datetime(2026, 3, 10, 15, tzinfo=UTC),
        "hour",
    )
    assert rollup_ranges(today.start, today.end).days is None
    assert parse_window("lastmonth", NOW).start == datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_window("month", NOW).start == datetime(2026, 3, 1, tzinfo=UTC)


def test_custom_windows_include_their_last_day_and_bad_windows_say_what_is_accepted() -> None:
    custom = parse_window("2026-03-01,2026-03-02", NOW)
    assert (custom.start, custom.end) == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    assert custom.is_custom
    rfc = parse_window("2026-03-09T10:30:00Z,2026-03-09T12:10:00+00:00", NOW)
    assert (rfc.start.hour, rfc.end.hour) == (10, 13)
    for bad in ("fortnight", "2026-03-05,2026-03-01", "2024-01-01,2026-03-01", "yesterday-ish,2026"):
        with pytest.raises(WindowError) as error:
            parse_window(bad, NOW)
        assert str(error.value)
    with pytest.raises(WindowError, match="today"):
        parse_window("fortnight", NOW)
