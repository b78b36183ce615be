"""Pending pod → right-sized node → pod running → node gone, against the simulated cloud and cluster."""

from __future__ import annotations

import pytest

from clusters.models import NodeState
from policies.models import Decision, DecisionKind

pytestmark = pytest.mark.django_db


def test_a_pending_pod_gets_the_cheapest_fitting_node_runs_and_the_node_goes_away(nodeless) -> None:
    nodeless.create_pod("web", cpu="1500m", memory="3Gi", run_seconds=60)
    report = nodeless.reconcile()
    assert report.launched == 1, report
    (row,) = nodeless.rows()
    launch = Decision.objects.get(node=row, kind=DecisionKind.LAUNCH)
    assert len(launch.runner_ups) >= 2
    assert all(
        launch.chosen["effective_price_per_hour"] <= r["effective_price_per_hour"] for r in launch.runner_ups
    )
    assert row.instance_type == launch.chosen["instance_type"] and row.instance_id.startswith("i-")

    nodeless.until(lambda: nodeless.pod("web").spec.node_name)
    row.refresh_from_db()
    assert row.state == NodeState.READY and nodeless.pod("web").spec.node_name == row.node_name
    assert Decision.objects.filter(node=row, kind=DecisionKind.BIND).exists()

    nodeless.until(lambda: nodeless.pod("web").status.phase == "Succeeded")
    nodeless.until(
        lambda: nodeless.rows(state=NodeState.TERMINATED) or nodeless.rows(state=NodeState.TERMINATING)
    )
    instances = nodeless.aws.cloud.admin.client(
        "ec2", nodeless.aws.cloud.customer_account_id
    ).describe_instances(InstanceIds=[row.instance_id])["Reservations"][0]["Instances"]
    assert instances[0]["State"]["Name"] in ("shutting-down", "terminated")
    assert Decision.objects.filter(node=row, kind=DecisionKind.TERMINATE).exists()
