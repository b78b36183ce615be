"""The real kube port (`workers.provisioning.ports.KubePort`): how the provisioning loop reads a cluster
(its one observation, `clusters.observation`: watches, not a list of every pod per pass) and what it
does to it, through the one client (`clusters.kube.api.ClusterApi`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from clusters.kube.api import ClusterApi, ClusterRefused
from clusters.models import Cluster
from clusters.observation.reading import read_cluster, read_storage
from engines.kube.cluster import ClusterState
from engines.kube.pods import Pod
from engines.kube.volumes import StorageState, claim_zones, intersect
from workers.provisioning.ports import Eviction, Json

JSON_PATCH = "application/json-patch+json"
# Conditional node patches retried this many times on a conflict (someone else changed the node).
CONFLICT_RETRIES = 5
MERGE_PATCH = "application/merge-patch+json"


class KubeOps:
    def __init__(self, cluster: Cluster, api: ClusterApi) -> None:
        self.cluster, self.api = cluster, api

    # --- reads -------------------------------------------------------------------------------
    def read(self, now: datetime) -> ClusterState:
        return read_cluster(self.cluster, now=now)

    def _storage(self) -> StorageState | None:
        # Tests hand the port a bare client (no cluster, no informer): it then reads directly.
        cluster: Cluster | None = self.cluster
        return read_storage(cluster) if cluster is not None else None

    def volume_zones(self, pods: Sequence[Pod]) -> Mapping[str, frozenset[str] | None]:
        """Each pod's claims, their bound volumes or storage classes: the zones kube-scheduler's
        volume filters allow. Read from the cluster's storage informer; where those kinds cannot be
        watched (RBAC), read once per pass (pods of one StatefulSet share classes). A claim that
        cannot be read says nothing (kube-scheduler keeps such a pod pending anyway)."""
        state = self._storage() if pods else None
        if state is not None:
            return {pod.uid: state.zones(pod.namespace, pod.claim_names) for pod in pods}
        cache: dict[str, Json | None] = {}

        def read(path: str) -> Json | None:
            if path not in cache:
                try:
                    cache[path] = self.api.request("GET", path)
                except ClusterRefused as refused:
                    if refused.status not in (403, 404):
                        raise
                    cache[path] = None
            return cache[path]

        found: dict[str, frozenset[str] | None] = {}
        for pod in pods:
            zones = []
            for name in pod.claim_names:
                claim = read(f"/api/v1/namespaces/{pod.namespace}/persistentvolumeclaims/{name}")
                if claim is None:
                    continue
                spec = claim.get("spec") or {}
                volume = (
                    read(f"/api/v1/persistentvolumes/{spec['volumeName']}")
                    if spec.get("volumeName")
                    else None
                )
                class_name = spec.get("storageClassName")
                storage = read(f"/apis/storage.k8s.io/v1/storageclasses/{class_name}") if class_name else None
                zones.append(claim_zones(claim, volume, storage))
            found[pod.uid] = intersect(zones)
        return found

    def attach_room(self, state: ClusterState) -> Mapping[str, int]:
        """By node name, how many more EBS volumes it can attach: its CSINode's count less the claims
        its pods mount (nodes without a CSINode, or a cluster whose storage cannot be watched: absent)."""
        storage = self._storage()
        if storage is None:
            return {}
        claims = {
            name: [
                f"{pod.namespace}/{claim}"
                for pod in node.pods
                if not pod.is_finished
                for claim in pod.claim_names
            ]
            for name, node in state.nodes.items()
        }
        return storage.attach_room(claims)

    # --- writes ------------------------------------------------------------------------------
    def bind(self, namespace: str, name: str, node_name: str) -> bool:
        """Bind a pod to a node; False when the pod is gone or bound elsewhere (nothing to do). A pod
        kube-scheduler bound to this very node first (it may, once the pod tolerates the node's
        taints) counts as bound."""
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        try:
            self.api.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/binding", body=body)
        except ClusterRefused as refused:
            if refused.status == 409:
                return self._bound_to(namespace, name, node_name)
            if refused.status == 404:
                return False
            raise
        return True

    def _bound_to(self, namespace: str, name: str, node_name: str) -> bool:
        try:
            pod = self.api.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        except ClusterRefused as refused:
            if refused.status == 404:
                return False
            raise
        return bool((pod.get("spec") or {}).get("nodeName") == node_name)

    def _patch_node(self, node_name: str, patch: Any, content_type: str) -> Json | None:
        """Patch a node, answering it as it is now; a node that is already gone (its instance
        terminated) needs nothing (None)."""
        try:
            return self.api.request(
                "PATCH", f"/api/v1/nodes/{node_name}", body=patch, content_type=content_type
            )
        except ClusterRefused as refused:
            if refused.status != 404:
                raise
        return None

    def remove_taint(self, node_name: str, key: str) -> None:
        """Drop the node's taints of `key` (see `_edit_taints`)."""
        self._edit_taints(node_name, key, lambda taints: [t for t in taints if t.get("key") != key])

    def own_taint(self, node_name: str, key: str, value: str) -> Json | None:
        """Give the node's taint of `key` this value, keeping its effect (see `_edit_taints`)."""
        return self._edit_taints(
            node_name,
            key,
            lambda taints: [{**t, "value": value} if t.get("key") == key else t for t in taints],
        )

    def _edit_taints(self, node_name: str, key: str, edit: Callable[[list[Any]], list[Any]]) -> Json | None:
        """Read the node, edit its taints, and write them back as a merge patch carrying the
        resourceVersion read: the API server applies it only if nobody changed the node meanwhile (409
        otherwise), so a taint someone else added is never wiped; on a conflict, read again. Answers
        the node as it is now (None: gone)."""
        for _ in range(CONFLICT_RETRIES):
            try:
                node: Json = self.api.request("GET", f"/api/v1/nodes/{node_name}")
            except ClusterRefused as refused:
                if refused.status == 404:
                    return None
                raise
            taints = list((node.get("spec") or {}).get("taints") or ())
            edited = edit(taints)
            if edited == taints:
                return node
            version = (node.get("metadata") or {}).get("resourceVersion")
            patch = {"metadata": {"resourceVersion": version}, "spec": {"taints": edited}}
            try:
                patched: Json = self.api.request(
                    "PATCH", f"/api/v1/nodes/{node_name}", body=patch, content_type=MERGE_PATCH
                )
                return patched
            except ClusterRefused as refused:
                if refused.status == 404:
                    return None
                if refused.status != 409:
                    raise
        raise ClusterRefused(
            409, f"node {node_name} kept changing; its {key} taint stays as it is until the next pass"
        )

    def tolerate(self, namespace: str, name: str, uid: str, tolerations: Sequence[Mapping[str, Any]]) -> bool:
        """A JSON patch that first tests the uid (a replacement of the same name is not this pod) and
        the node name (still unbound), then appends the tolerations."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"
        try:
            current = self.api.request("GET", path)
        except ClusterRefused as refused:
            if refused.status == 404:
                return False
            raise
        spec = current.get("spec") or {}
        if (current.get("metadata") or {}).get("uid") != uid or spec.get("nodeName"):
            return False
        patch: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/uid", "value": uid}]
        if spec.get("tolerations"):
            patch.append({"op": "test", "path": "/spec/tolerations", "value": spec["tolerations"]})
            patch += [{"op": "add", "path": "/spec/tolerations/-", "value": dict(t)} for t in tolerations]
        else:
            patch.append({"op": "add", "path": "/spec/tolerations", "value": [dict(t) for t in tolerations]})
        try:
            self.api.request("PATCH", path, body=patch, content_type=JSON_PATCH)
        except ClusterRefused as refused:
            if refused.status in (404, 409, 422):  # gone, or changed meanwhile: the next pass decides again
                return False
            raise
        return True

    def label_node(self, node_name: str, labels: Mapping[str, str]) -> Json | None:
        return self._patch_node(node_name, {"metadata": {"labels": dict(labels)}}, MERGE_PATCH)

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

    def recreate(self, namespace: str, name: str, uid: str) -> bool:
        """A delete with the uid as precondition (a replacement of the same name is not this pod),
        only while the pod is still unbound."""
        path = f"/api/v1/namespaces/{namespace}/pods/{name}"
        try:
            current = self.api.request("GET", path)
            if (current.get("metadata") or {}).get("uid") != uid or (current.get("spec") or {}).get(
                "nodeName"
            ):
                return False
            self.api.request("DELETE", path, body={"preconditions": {"uid": uid}})
        except ClusterRefused as refused:
            if refused.status in (404, 409):
                return False
            raise
        return True

    def delete_node(self, node_name: str) -> None:
        try:
            self.api.request("DELETE", f"/api/v1/nodes/{node_name}")
        except ClusterRefused as refused:
            if refused.status != 404:
                raise
