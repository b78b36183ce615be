"""The ports the pass acts through, injected with its context: the cloud (`CloudProvider`, from
`clusters.cloud.interface`) and the cluster's API server (`KubePort`, below). The real kube port is
`workers.provisioning.kube.KubeOps`; the fakes for tests are in `tests/workers/provisioning/fakes.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from clusters.cloud.interface import CloudProvider
from engines.kube.cluster import ClusterState
from engines.kube.pods import Pod

Json = dict[str, Any]
Eviction = Literal["evicted", "gone", "blocked"]

__all__ = ["CloudProvider", "Eviction", "Json", "KubePort"]


class KubePort(Protocol):
    # --- what the observe step reads ---------------------------------------------------------------
    def read(self, now: datetime) -> ClusterState:
        """The cluster as it is now: nodes with their pods, the pods waiting for a node."""
        ...

    def volume_zones(self, pods: Sequence[Pod]) -> Mapping[str, frozenset[str] | None]:
        """By pod uid, the zones its PersistentVolumeClaims allow (None: they do not constrain it)."""
        ...

    def attach_room(self, state: ClusterState) -> Mapping[str, int]:
        """By node name, how many more volumes the node can attach (its CSINode's limit less the
        claims its pods mount); nodes whose limit is not known are absent."""
        ...

    # --- what executors do ---------------------------------------------------------------------------
    def bind(self, namespace: str, name: str, node_name: str) -> bool:
        """Bind a pod to a node; False when the pod is gone or already bound (nothing to do)."""
        ...

    def label_node(self, node_name: str, labels: Mapping[str, str]) -> Json | None:
        """Add or change labels on the node, answering the node as it is now; a node already gone
        needs nothing (None)."""
        ...

    def cordon(self, node_name: str) -> None:
        """Mark the node unschedulable; a node already gone needs nothing."""
        ...

    def remove_taint(self, node_name: str, key: str) -> None:
        """Remove the node's taints of this key, keeping every other taint (one added meanwhile
        included: the change is conditional on the node's resourceVersion, retried on conflict); a
        node already gone needs nothing."""
        ...

    def own_taint(self, node_name: str, key: str, value: str) -> Json | None:
        """Give the node's taint of `key` this value (the node's own, so that a toleration for it opens
        this node and no other), conditionally like `remove_taint`, answering the node as it is now; a
        node already gone needs nothing (None)."""
        ...

    def tolerate(self, namespace: str, name: str, uid: str, tolerations: Sequence[Mapping[str, Any]]) -> bool:
        """Add tolerations to a pending pod (the one change of its scheduling a pending pod allows);
        False when that pod (this uid) is gone or already bound."""
        ...

    def evict(self, namespace: str, name: str) -> Eviction:
        """Ask to evict a pod: "evicted", "gone", or "blocked" (a PodDisruptionBudget says not now)."""
        ...

    def delete_node(self, node_name: str) -> None:
        """Delete the node object; a node already gone needs nothing."""
        ...

    def recreate(self, namespace: str, name: str, uid: str) -> bool:
        """Delete a pending pod (this uid, still unbound) so that its controller creates it again;
        False when that pod is gone, replaced or bound meanwhile."""
        ...
