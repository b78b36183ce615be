"""The typed records decisions read: the same states as the rows, and planned pods as the rows keep them."""

from __future__ import annotations

from clusters.models import ACTIVE_STATES, NodeState
from engines.kube import Resources
from workers.provisioning.records import ACTIVE, Lifecycle, PlannedPod


def test_the_record_states_are_the_row_states() -> None:
    assert {state.value for state in Lifecycle} == set(NodeState.values)
    assert {state.value for state in ACTIVE} == {str(state) for state in ACTIVE_STATES}


def test_a_planned_pod_reads_back_as_written() -> None:
    planned = PlannedPod("u1", "shop", "web-1", "rs-1", Resources(250, 512, 1, 0, 1), volumes=2)
    entry = planned.to_json()
    assert entry == {
        "uid": "u1",
        "namespace": "shop",
        "name": "web-1",
        "owner": "rs-1",
        "cpu": 250,
        "memory": 512,
        "gpu": 1,
        "volumes": 2,
    }
    assert PlannedPod.from_json(entry) == planned
    # A row written before volumes were kept reads as a pod without volumes.
    del entry["volumes"]
    assert PlannedPod.from_json(entry).volumes == 0


def test_rows_written_before_owners_were_kept_read_as_bare_pods() -> None:
    entry = {"uid": "u1", "namespace": "shop", "name": "web-1", "cpu": 100, "memory": 64, "gpu": 0}
    assert PlannedPod.from_json(entry).owner == ""
