"""The policy's architecture setting end to end: none ticked gives amd64 nodes to pods that say
nothing (arm64 to pods whose affinity allows it), x86_64 and arm64 each launch their own, and every
pod ends Running on the node the pass launched for it."""

from __future__ import annotations

import pytest

from clusters.models import NodeState
from engines.kube import labels as wk
from policies.models import Decision, DecisionKind

pytestmark = pytest.mark.django_db


def _node_arch(nodeless, pod: str) -> str:
    node_name = nodeless.until(lambda: nodeless.pod(pod).spec.node_name)
    nodeless.until(lambda: nodeless.pod(pod).status.phase == "Running")
    labels: dict[str, str] = nodeless.core.read_node(node_name).metadata.labels
    return labels[wk.ARCH]


@pytest.mark.parametrize(
    ("architectures", "expected"), [([], "amd64"), (["x86_64"], "amd64"), (["arm64"], "arm64")]
)
def test_each_architecture_setting_launches_nodes_of_its_architecture(
    nodeless, architectures, expected
) -> None:
    nodeless.policy(architectures=architectures, capacity_types=["on_demand"])
    nodeless.create_pod("web", cpu="2", memory="4Gi")
    assert _node_arch(nodeless, "web") == expected
    (row,) = nodeless.rows(state=NodeState.READY)
    launch = Decision.objects.get(node=row, kind=DecisionKind.LAUNCH)
    assert launch.chosen["architecture"] == expected


def test_a_pod_whose_selector_asks_for_arm64_gets_graviton_with_no_architecture_ticked(nodeless) -> None:
    nodeless.policy(architectures=[], capacity_types=["on_demand"])
    nodeless.create_pod("arm", cpu="2", memory="4Gi", node_selector={wk.ARCH: "arm64"})
    assert _node_arch(nodeless, "arm") == "arm64"
