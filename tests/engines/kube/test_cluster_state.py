"""A cluster state: pods on their nodes, pods waiting, pods whose node is gone, DaemonSet overhead."""

from __future__ import annotations

from datetime import UTC, datetime

from engines.kube.cluster import cluster_state
from engines.kube.nodes import Node
from engines.kube.pods import Pod
from engines.kube.resources import Resources

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _pod(name: str, node: str = "", cpu: str = "1", phase: str = "Running", owner: str = "") -> Pod:
    refs = [{"kind": "DaemonSet", "uid": owner, "controller": True}] if owner else []
    return Pod(
        {
            "metadata": {"name": name, "uid": name, "ownerReferences": refs},
            "spec": {"nodeName": node, "containers": [{"resources": {"requests": {"cpu": cpu}}}]},
            "status": {"phase": phase},
        }
    )


def _node(name: str) -> Node:
    return Node(
        {
            "metadata": {"name": name},
            "status": {
                "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "10"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )


def test_pods_land_on_their_nodes_wait_or_are_orphans() -> None:
    state = cluster_state(
        [
            _pod("a", "n1"),
            _pod("done", "n1", phase="Succeeded"),
            _pod("waiting", ""),
            _pod("finished-unbound", "", phase="Failed"),
            _pod("lost", "gone-node"),
            _pod("ds-1", "n1", cpu="100m", owner="ds"),
            _pod("ds-2", "n2", cpu="200m", owner="ds"),
        ],
        [_node("n1"), _node("n2")],
        NOW,
    )
    assert [pod.name for pod in state.pending] == ["waiting"]
    assert [pod.name for pod in state.orphans] == ["lost"]
    n1 = state.nodes["n1"]
    assert [pod.name for pod in n1.workload_pods] == ["a"]
    assert n1.requested() == Resources(1100, 0, 0, 0, 2)  # finished pods take nothing
    assert n1.free() == Resources(2900, 8192, 0, 0, 8)
    assert state.daemonset_overhead == Resources(200, 0, 0, 0, 1)  # the DaemonSet's largest pod
    assert state.pod_count == 5  # unfinished: a, waiting, lost, two DaemonSet pods
