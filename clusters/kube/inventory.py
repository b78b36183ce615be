"""A live, bounded look at a cluster's pods for its page (pending first, running next, finished last)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from clusters.kube.access import ClusterCredentialsError, cluster_api_client
from clusters.models import Cluster

PAGE_LIMIT = 500


@dataclass(frozen=True)
class PodRow:
    namespace: str
    name: str
    phase: str
    node: str
    cpu: str
    memory: str
    reason: str


@dataclass(frozen=True)
class PodListing:
    pods: list[PodRow]
    truncated: bool
    error: str = ""
    # Pods seen in the one page we read; ``more`` when the API had further pages we did not fetch.
    total: int = 0
    more: bool = False


# Finished pods pile up (jobs, the trace replay) and say little about the cluster now: they go last.
_PHASE_ORDER = {"Pending": 0, "Running": 1, "Unknown": 2, "Failed": 3, "Succeeded": 4}


def pod_listing(cluster: Cluster, *, limit: int = 30) -> PodListing:
    try:
        with cluster_api_client(cluster) as api_client:
            response = k8s.CoreV1Api(api_client).list_pod_for_all_namespaces(
                limit=PAGE_LIMIT, _preload_content=False, _request_timeout=10
            )
            # With _preload_content=False the client returns the raw urllib3 response.
            page = json.loads(response.data)  # type: ignore[attr-defined]
    except (ApiException, HTTPError, OSError, ValueError, ClusterCredentialsError) as error:
        return PodListing(
            [], truncated=False, error=f"cannot list pods right now: {getattr(error, 'reason', error)}"
        )
    rows = []
    for pod in page.get("items", []):
        requests: dict[str, str] = {}
        for container in pod.get("spec", {}).get("containers") or ():
            requests = {**requests, **((container.get("resources") or {}).get("requests") or {})}
        conditions = pod.get("status", {}).get("conditions") or ()
        reason = next(
            (
                c.get("message", "")
                for c in conditions
                if c.get("type") == "PodScheduled" and c.get("status") == "False"
            ),
            "",
        )
        rows.append(
            PodRow(
                namespace=pod["metadata"].get("namespace", ""),
                name=pod["metadata"]["name"],
                phase=pod.get("status", {}).get("phase", "Pending"),
                node=pod.get("spec", {}).get("nodeName", ""),
                cpu=requests.get("cpu", ""),
                memory=requests.get("memory", ""),
                reason=reason,
            )
        )
    rows.sort(key=lambda row: (_PHASE_ORDER.get(row.phase, 2), row.namespace, row.name))
    more = bool(page.get("metadata", {}).get("continue"))
    truncated = len(rows) > limit or more
    return PodListing(rows[:limit], truncated=truncated, total=len(rows), more=more)
