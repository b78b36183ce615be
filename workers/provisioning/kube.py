"""The real kube port (`workers.provisioning.ports.KubePort`): how the provisioning loop reads a cluster
(its one observation, `clusters.observation`: watches, not a list of every pod per pass) and what it
does to it, through the one client (`clusters.kube.api.ClusterApi`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from clusters.kube.api import ClusterApi, ClusterRefused
from clusters.models import Cluster
from clusters.observation.reading import read_cluster
from engines.kube.cluster import ClusterState
from workers.provisioning.ports import Eviction

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class KubeOps:
    def __init__(self, cluster: Cluster, api: ClusterApi) -> None:
        self.cluster, self.api = cluster, api

    # --- reads -------------------------------------------------------------------------------
    def read(self, now: datetime) -> ClusterState:
        return read_cluster(self.cluster, now=now)

    # --- writes ------------------------------------------------------------------------------
    def bind(self, namespace: str, name: str, node_name: str) -> bool:
        """Bind a pod to a node; False when the pod is gone or already bound (nothing to do)."""
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        try:
            self.api.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/binding", body=body)
        except ClusterRefused as refused:
            if refused.status in (404, 409):
                return False
            raise
        return True

    def _patch_node(self, node_name: str, patch: Any, content_type: str) -> None:
        """Patch a node; a node that is already gone (its instance terminated) needs nothing."""
        try:
            self.api.request("PATCH", f"/api/v1/nodes/{node_name}", body=patch, content_type=content_type)
        except ClusterRefused as refused:
            if refused.status != 404:
                raise

    def set_taints(self, node_name: str, taints: Sequence[Mapping[str, Any]]) -> None:
        patch = [{"op": "add", "path": "/spec/taints", "value": [dict(t) for t in taints]}]
        self._patch_node(node_name, patch, JSON_PATCH)

    def label_node(self, node_name: str, labels: Mapping[str, str]) -> None:
        self._patch_node(node_name, {"metadata": {"labels": dict(labels)}}, MERGE_PATCH)

    def cordon(self, node_name: str) -> None:
        self._patch_node(node_name, {"spec": {"unschedulable": True}}, MERGE_PATCH)

    def evict(self, namespace: str, name: str) -> Eviction:
        """Ask to evict a pod. Returns "evicted", "gone", or "blocked" (a PodDisruptionBudget says no)."""
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        try:
            self.api.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body=body)
        except ClusterRefused as refused:
            if refused.status == 404:
                return "gone"
            if refused.status == 429:
                return "blocked"
            raise
        return "evicted"

    def delete_node(self, node_name: str) -> None:
        try:
            self.api.request("DELETE", f"/api/v1/nodes/{node_name}")
        except ClusterRefused as refused:
            if refused.status != 404:
                raise
