"""The kept summary groups pods that schedule alike, and gives every one of them back to a preview."""

from __future__ import annotations

from datetime import UTC, datetime

from clusters.observation.summary import expand_pods, summarize
from engines.kube.cluster import cluster_state
from engines.kube.nodes import Node
from engines.kube.pods import Pod

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _pod(name: str, cpu: str, node: str = "", labels: dict[str, str] | None = None) -> Pod:
    return Pod(
        {
            "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels or {}},
            "spec": {
                "nodeName": node,
                "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}],
            },
            "status": {"phase": "Running" if node else "Pending"},
        }
    )


def _node(name: str, instance_type: str) -> Node:
    return Node(
        {
            "metadata": {"name": name, "labels": {"node.kubernetes.io/instance-type": instance_type}},
            "status": {
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )


def test_replicas_collapse_into_groups_and_expand_back_with_uids_of_their_own() -> None:
    pending = [_pod(f"web-{i}", "500m", labels={"app": "web"}) for i in range(40)] + [_pod("batch", "2")]
    state = cluster_state(pending, [_node("n1", "m5.xlarge"), _node("n2", "m5.xlarge")], NOW)
    summary = summarize(state)
    assert sorted(group["count"] for group in summary["pending"]) == [1, 40]
    expanded = list(expand_pods(summary["pending"]))
    assert len(expanded) == 41 and len({pod.uid for pod in expanded}) == 41
    assert sum(pod.requests.cpu_millis for pod in expanded) == 40 * 500 + 2000
    assert summary["node_groups"] == [
        {
            "instance_type": "m5.xlarge",
            "zone": "",
            "capacity_type": "",
            "allocatable": [4000, 16384, 0, 0, 110],
            "schedulable": True,
            "count": 2,
        }
    ]


def test_managed_nodes_free_room_and_federated_requests_are_kept() -> None:
    state = cluster_state(
        [
            _pod("ours", "1", node="n1", labels={"nodeless.io/workload-id": "w1"}),
            _pod("theirs", "500m", node="n2"),
        ],
        [_node("n1", "m5.xlarge"), _node("n2", "c5.large")],
        NOW,
    )
    summary = summarize(state, managed={"n1"})
    (free,) = summary["managed_free"]
    assert free["name"] == "n1" and free["free"][0] == 3000
    assert summary["workload_requests"] == {"w1": [1000, 0, 0, 0, 1]}
    assert summary["requests_total"] == [1500, 0, 0, 0, 2]
    assert [group["count"] for group in summary["managed_pods"]] == [1]
