"""DaemonSet overhead per new node, as Karpenter counts it: only the DaemonSets whose pods would be
placed on a node of the policy (they tolerate its taints; their node selector and node affinity can
match its labels) take room there; a rule on a label that depends on the offering counts as met."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engines.kube.cluster import NewNode, cluster_state
from engines.kube.labels import ARCH, OS, REGION, ZONE, Taint
from engines.kube.nodes import Node
from engines.kube.pods import Pod
from engines.kube.resources import Resources

NOW = datetime(2026, 12, 5, tzinfo=UTC)
NEW = NewNode(
    {OS: "linux", REGION: "us-east-1", "team": "web"},
    frozenset({ZONE, ARCH, "kubernetes.io/hostname"}),
    (Taint("dedicated", "web"),),
)
EVERYTHING = [{"operator": "Exists"}]


def _daemon(name: str, cpu: str, *, tolerations: Any = EVERYTHING, **spec: Any) -> Pod:
    pin = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["old"]}]}
    return Pod(
        {
            "metadata": {
                "name": name,
                "uid": name,
                "ownerReferences": [{"kind": "DaemonSet", "uid": f"ds-{name}"}],
            },
            "spec": {
                "nodeName": "old",
                "containers": [{"resources": {"requests": {"cpu": cpu}}}],
                "tolerations": tolerations,
                # The DaemonSet controller pins every pod to its node with a matchFields term.
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [pin]}
                    }
                },
                **spec,
            },
            "status": {"phase": "Running"},
        }
    )


def _old_node() -> Node:
    return Node({"metadata": {"name": "old"}, "status": {"allocatable": {"cpu": "64", "pods": "110"}}})


def test_only_the_daemonsets_that_would_run_on_a_new_node_are_reserved_there() -> None:
    pods = [
        _daemon("proxy", "100m"),  # tolerates everything, selects nothing: every node
        _daemon("arm-agent", "200m", nodeSelector={ARCH: "arm64"}),  # arch depends on the offering
        _daemon("windows", "400m", nodeSelector={OS: "windows"}),  # new nodes are linux
        _daemon("gpu-plugin", "800m", nodeSelector={"nvidia.com/gpu.present": "true"}),  # not carried
        _daemon("web-logs", "1600m", nodeSelector={"team": "web"}),  # the policy's label
        _daemon("picky", "3200m", tolerations=[]),  # does not tolerate dedicated=web
    ]
    state = cluster_state(pods, [_old_node()], NOW)
    assert state.daemonset_overhead.cpu_millis == 6300  # every DaemonSet, where nothing is known
    overhead = state.new_node_overhead(NEW)
    assert overhead == Resources(cpu_millis=1900, pods=3)
