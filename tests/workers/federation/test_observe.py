"""What one look at a member counts, read through the Kubernetes kernel's Pod and Node views: the
capacity of its nodes, and what the pods that are not ours hold (the kernel's one sizing rule); and
how many members' observations a pass keeps."""

from __future__ import annotations

from typing import Any

from engines.kube import Node, Pod
from policies.federation.pricing import NodeInfo
from policies.federation.snapshots import Usage
from workers.federation.observe import RECORDS_PER_PASS, _records_due, node_info, pod_usage


def _node(**overrides: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "metadata": {"name": "n1", "labels": {"beta.kubernetes.io/instance-type": "m5.xlarge"}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "58", "nvidia.com/gpu": "1"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    for key, value in overrides.items():
        node[key] = {**node[key], **value}
    return node


def test_a_node_offers_its_allocatable_under_its_instance_type_old_label_included() -> None:
    assert node_info(Node(_node())) == NodeInfo("m5.xlarge", 3920, 15 * 1024, 1, 58, schedulable=True)


def test_a_node_takes_no_new_pods_when_cordoned_not_ready_or_tainted_against_them() -> None:
    cordoned = _node(spec={"unschedulable": True})
    not_ready = _node(status={"conditions": [{"type": "Ready", "status": "False"}]})
    tainted = _node(spec={"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]})
    preferring = _node(spec={"taints": [{"key": "spot", "effect": "PreferNoSchedule"}]})
    assert [node_info(Node(node)).schedulable for node in (cordoned, not_ready, tainted, preferring)] == [
        False,
        False,
        False,
        True,
    ]


def test_another_pod_holds_its_containers_sidecars_and_overhead() -> None:
    pod = Pod(
        {
            "spec": {
                "containers": [{"resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}],
                "initContainers": [
                    {"restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
                ],
                "overhead": {"cpu": "250m", "memory": "120Mi"},
            }
        }
    )
    assert pod_usage(pod) == Usage(850, 440, 0, 1)


def test_another_pods_gpus_of_any_vendor_count() -> None:
    limits = {"nvidia.com/gpu": "1", "amd.com/gpu": "2"}
    pod = Pod({"spec": {"containers": [{"resources": {"limits": limits}}]}})
    assert pod_usage(pod).gpus == 3


def test_a_pod_with_an_unreadable_quantity_holds_only_its_slot() -> None:
    pod = Pod({"spec": {"containers": [{"resources": {"requests": {"cpu": "a lot"}}}]}})
    assert pod_usage(pod) == Usage(0, 0, 0, 1)


def test_a_pass_keeps_a_bounded_number_of_observations_the_never_kept_first() -> None:
    members = [f"records-due-{number}" for number in range(RECORDS_PER_PASS * 2 + 5)]
    first = _records_due(members)
    second = _records_due(members)
    third = _records_due(members)
    assert len(first) == len(second) == RECORDS_PER_PASS and len(third) == 5
    assert first | second | third == set(members) and not (first & second or second & third)
    assert _records_due(members) == set()  # every one was kept within KEEP_SECONDS
