"""The savings report as a property over generated inputs: whatever the groups, clusters, pools and
pods' shares of them, the rows add up to the total, no baseline is negative, and every saving is
its baseline minus the actual spend."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.metering import GroupCosts, SavingsReport, SavingsRow, savings_report

money = st.floats(min_value=0, max_value=1_000, allow_nan=False, allow_infinity=False)
CLUSTERS = ("c1", "c2", "c3")
COLUMNS = ("actual", "static_pool", "on_demand_only", "serverless_only", "pod_seconds")


@st.composite
def group_costs(draw: st.DrawFn) -> GroupCosts:
    idle = draw(st.booleans())
    pods = 0.0 if idle else draw(st.floats(min_value=0, max_value=1e6))
    return GroupCosts(
        cluster_id=draw(st.sampled_from(CLUSTERS)),
        group="__idle__" if idle else draw(st.sampled_from(("shop", "batch", "ml"))),
        label="Idle capacity" if idle else "group",
        idle=idle,
        cost=draw(money),
        on_demand_cost=draw(money),
        serverless_cost=draw(money),
        pod_seconds=pods,
        serverless_unfit_pod_seconds=draw(st.floats(min_value=0, max_value=1)) * pods,
    )


pools = st.dictionaries(st.sampled_from(CLUSTERS), money, max_size=3)
pods_shares = st.dictionaries(st.sampled_from(CLUSTERS), st.none() | money, max_size=3)


def _check(report: SavingsReport) -> None:
    for column in COLUMNS:
        assert sum(getattr(row, column) for row in report.rows) == pytest.approx(
            getattr(report.total, column), abs=1e-6
        ), column
    for row in (*report.rows, report.total):
        assert isinstance(row, SavingsRow)
        for baseline in ("static_pool", "on_demand_only", "serverless_only"):
            assert getattr(row, baseline) >= -1e-9, (row.label, baseline)
        assert row.versus_static_pool == row.static_pool - row.actual
        assert row.versus_on_demand_only == row.on_demand_only - row.actual
        assert row.versus_serverless_only == row.serverless_only - row.actual


@settings(max_examples=300, deadline=None)
@given(st.lists(group_costs(), max_size=12), pools, pods_shares)
def test_rows_add_up_baselines_are_never_negative_and_savings_are_baseline_minus_actual(
    groups: list[GroupCosts], static: dict[str, float], shares: dict[str, float | None]
) -> None:
    report = savings_report(groups, static, shares)
    _check(report)
    # Every cluster's pool is shown in full: what the pods' requests cost of it, and its own idle.
    assert report.total.static_pool == pytest.approx(sum(static.values()), abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.lists(group_costs(), min_size=1, max_size=12), pools, pods_shares)
def test_the_pools_idle_goes_to_the_idle_row_never_to_a_group_of_pods(
    groups: list[GroupCosts], static: dict[str, float], shares: dict[str, float | None]
) -> None:
    report = savings_report(groups, static, shares)
    pods_rows = [row for row in report.rows if row.group != "__idle__"]
    known = {cluster: share for cluster, share in shares.items() if share is not None}
    if known and set(static) <= set(known):
        # With every pool's pod share known, the pods never carry more of the pools than that share.
        assert (
            sum(row.static_pool for row in pods_rows)
            <= sum(min(known[cluster], pool) for cluster, pool in static.items()) + 1e-6
        )
