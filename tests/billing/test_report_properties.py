"""Reports over generated ledgers: random nodes (capacity types, prices, some unpriced) and pods
(requests, some on no priced node, some no serverless shape holds) metered through the real write
path and read back by the report selector. Whatever the ledger: the rows add up to the total in
every column, no baseline is negative, and every saving is its baseline minus the actual spend; with
a namespace's costs shared over the others, the same holds and the totals do not move."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.selectors import report
from clusters.models import Cluster
from engines.kube.capacity import CapacityType
from engines.metering import NodeSample, PodSample, Quantities, parse_window
from tests.billing.ledger_builders import make_cluster, minutes, record_minutes

pytestmark = pytest.mark.django_db

COLUMNS = ("actual", "static_pool", "on_demand_only", "serverless_only")


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[NodeSample], list[PodSample], int]:
    nodes = []
    for index in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from((CapacityType.ON_DEMAND, CapacityType.SPOT)))
        on_demand = draw(st.sampled_from((0.096, 0.192, 0.384)))
        price = (
            None if draw(st.integers(0, 5)) == 0 else on_demand * (0.4 if kind == CapacityType.SPOT else 1)
        )
        cores = draw(st.sampled_from((2, 4, 8)))
        nodes.append(
            NodeSample(
                f"node-{index}",
                "m5.large",
                kind,
                "us-east-1a",
                price,
                Quantities(cores, cores * 4),
                Quantities(cores * 0.95, cores * 3.6),
                on_demand_price_per_hour=on_demand,
            )
        )
    pods = [
        PodSample(
            draw(st.sampled_from(("shop", "batch"))),
            f"pod-{index}",
            draw(st.sampled_from(("Deployment/web", "Job/etl"))),
            draw(st.sampled_from([node.name for node in nodes])),
            Quantities(draw(st.sampled_from((0.25, 0.5, 1, 3))), draw(st.sampled_from((0.5, 1, 4, 20)))),
            serverless_price_per_hour=draw(st.none() | st.sampled_from((0.02, 0.05, 0.2))),
        )
        for index in range(draw(st.integers(0, 6)))
    ]
    return nodes, pods, draw(st.integers(1, 4))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ledger=ledgers(),
    grouping=st.sampled_from(("namespace", "workload", "cluster", "capacity_type")),
    shared=st.sampled_from(((), ("batch",))),
)
def test_report_rows_sum_to_totals_baselines_are_never_negative_and_savings_are_baseline_minus_actual(
    cast, ledger, grouping, shared
) -> None:
    Cluster.objects.filter(organization=cast.org_a).delete()  # each example starts from an empty ledger
    nodes, pods, count = ledger
    now = timezone.now()
    first = now.replace(minute=0, second=0, microsecond=0)
    if now - first < timedelta(minutes=count + 1):
        first -= timedelta(hours=1)  # whole minutes of the window, never in the future
    record_minutes(make_cluster(cast.org_a, "generated"), minutes(first, count), nodes=nodes, pods=pods)

    savings = report(cast.org_a, parse_window("24h", now), grouping, shared).savings
    if shared:  # shared costs move between rows: the totals are those of the report without them
        unshared = report(cast.org_a, parse_window("24h", now), grouping).savings
        for column in (*COLUMNS, "pod_seconds"):
            assert getattr(savings.total, column) == pytest.approx(getattr(unshared.total, column), abs=1e-6)
        if savings.shared:
            assert not any(row.group.split("/", 1)[0] == "batch" for row in savings.rows)
    for column in COLUMNS:
        assert sum(getattr(row, column) for row in savings.rows) == pytest.approx(
            getattr(savings.total, column), abs=1e-6
        ), column
    for row in (*savings.rows, savings.total):
        for baseline in ("static_pool", "on_demand_only", "serverless_only"):
            assert getattr(row, baseline) >= 0, (row.label, baseline)
        assert row.versus_on_demand_only == row.on_demand_only - row.actual
        assert row.versus_static_pool == row.static_pool - row.actual
        assert row.versus_serverless_only == row.serverless_only - row.actual
