"""The federation preview sizes members from their kept observation, never from a live call."""

from __future__ import annotations

from datetime import UTC, datetime

from clusters.models import ClusterObservation
from policies.federation.pricing import NodeInfo
from policies.federation.snapshots import Usage, kept_inventory

SUMMARY = {
    "node_groups": [
        {
            "instance_type": "m5.xlarge",
            "allocatable": [3920, 15360, 0, 0, 58],
            "schedulable": True,
            "count": 2,
        },
        {
            "instance_type": "g5.xlarge",
            "allocatable": [3920, 15360, 1, 0, 58],
            "schedulable": False,
            "count": 1,
        },
    ],
    "requests_total": [3000, 4096, 1, 0, 5],
    "workload_requests": {"ours": [1000, 1024, 0, 0, 2], "another-org": [10, 10, 0, 0, 1]},
}


def _kept(**fields: object) -> ClusterObservation:
    return ClusterObservation(observed_at=datetime(2026, 12, 5, tzinfo=UTC), summary=SUMMARY, **fields)


def test_nodes_come_back_one_per_node_and_others_hold_what_is_not_ours() -> None:
    inventory = kept_inventory(_kept(), ours={"ours"})
    assert inventory is not None
    assert inventory.nodes.count(NodeInfo("m5.xlarge", 3920, 15360, 0, 58, schedulable=True)) == 2
    assert NodeInfo("g5.xlarge", 3920, 15360, 1, 58, schedulable=False) in inventory.nodes
    assert inventory.others == Usage(2000, 3072, 1, 3)


def test_a_member_never_read_or_whose_last_read_failed_counts_as_unreachable() -> None:
    assert kept_inventory(None, ours=set()) is None
    assert kept_inventory(ClusterObservation(summary=SUMMARY), ours=set()) is None
    assert kept_inventory(_kept(problem="connection refused"), ours=set()) is None
