"""The real kube port (`workers.provisioning.ports.KubePort`): what the provisioning loop reads from and
does to a cluster, through the official client.

Lists use `_preload_content=False` and plain `json.loads`: building the client's model objects for
50,000 pods costs more than the whole reconcile may take, and the loop needs a handful of fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from workers.provisioning.ports import Eviction, Json

PAGE_SIZE = 5000
TIMEOUT = 30


def drain(response: Any) -> None:
    """Read a raw response to the end: only then does urllib3 put the connection back in the pool
    (otherwise every call pays a new TLS handshake)."""
    response.data  # noqa: B018  (reading is the point)
    response.release_conn()


class KubeOps:
    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)

    def close(self) -> None:
        """Close the pooled connections (the client is being replaced)."""
        self.api_client.close()  # type: ignore[no-untyped-call]

    # --- reads -------------------------------------------------------------------------------
    def _pages(self, call: Any, **params: Any) -> Iterator[Json]:
        token = None
        while True:
            response = call(
                limit=PAGE_SIZE, _continue=token, _preload_content=False, _request_timeout=TIMEOUT, **params
            )
            page = json.loads(response.data)
            response.release_conn()
            yield from page.get("items", [])
            token = page.get("metadata", {}).get("continue")
            if not token:
                return

    def pods(self) -> list[Json]:
        return list(self._pages(self.core.list_pod_for_all_namespaces))

    def nodes(self) -> list[Json]:
        return list(self._pages(self.core.list_node))

    # --- writes ------------------------------------------------------------------------------
    def bind(self, namespace: str, name: str, node_name: str) -> bool:
        """Bind a pod to a node; False when the pod is gone or already bound (nothing to do)."""
        body = k8s.V1Binding(
            metadata=k8s.V1ObjectMeta(name=name, namespace=namespace),
            target=k8s.V1ObjectReference(api_version="v1", kind="Node", name=node_name),
        )
        try:
            drain(
                self.core.create_namespaced_pod_binding(
                    name, namespace, body, _preload_content=False, _request_timeout=TIMEOUT
                )
            )
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    def _patch_node(self, node_name: str, patch: Any) -> None:
        """Patch a node; a node that is already gone (its instance terminated) needs nothing."""
        try:
            drain(self.core.patch_node(node_name, patch, _preload_content=False, _request_timeout=TIMEOUT))
        except ApiException as error:
            if error.status != 404:
                raise

    def set_taints(self, node_name: str, taints: Sequence[Mapping[str, Any]]) -> None:
        self._patch_node(node_name, [{"op": "add", "path": "/spec/taints", "value": list(taints)}])

    def cordon(self, node_name: str) -> None:
        self._patch_node(node_name, {"spec": {"unschedulable": True}})

    def evict(self, namespace: str, name: str) -> Eviction:
        """Ask to evict a pod. Returns "evicted", "gone", or "blocked" (a PodDisruptionBudget says no)."""
        body = k8s.V1Eviction(metadata=k8s.V1ObjectMeta(name=name, namespace=namespace))
        try:
            drain(
                self.core.create_namespaced_pod_eviction(
                    name, namespace, body, _preload_content=False, _request_timeout=TIMEOUT
                )
            )
        except ApiException as error:
            if error.status == 404:
                return "gone"
            if error.status == 429:
                return "blocked"
            raise
        return "evicted"

    def delete_node(self, node_name: str) -> None:
        try:
            drain(self.core.delete_node(node_name, _preload_content=False, _request_timeout=TIMEOUT))
        except ApiException as error:
            if error.status != 404:
                raise
