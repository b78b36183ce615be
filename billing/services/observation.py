"""Reading a cluster for metering: its nodes and pods (raw JSON, through the official client), the
metrics API when the cluster has one, and the nodes Nodeless launched, as metering samples."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from clusters.kube.access import ClusterCredentialsError, cluster_api_client
from clusters.models import ACTIVE_STATES, Cluster, ManagedNode
from engines.kube.capacity import CapacityType
from engines.metering import CatalogPrices, NodeSample, PodSample, Quantities, offering_from_labels
from workers.provisioning.kube import KubeOps
from workers.provisioning.observe import is_finished, pod_requests, quantity, resources_of

logger = logging.getLogger(__name__)

Json = dict[str, Any]
GIB = 2**30
METRICS_ABSENT_SECONDS = 600  # how long to remember that a cluster serves no metrics API
APP_LABELS = ("app.kubernetes.io/name", "app", "nodeless.io/trace")
TIMEOUT = 15


@dataclass(frozen=True)
class ClusterObservation:
    """One read of a cluster; `pods` is None when it could not be listed (`error` says why)."""

    listed_at: float
    pods: list[Json] | None
    nodes: list[Json]
    usage: dict[tuple[str, str], Quantities] | None
    error: str = ""


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _not_after(moment: float | None, listed_at: float) -> float | None:
    """Simulated clusters may run a faster clock than ours: a time after the listing is not to be
    trusted, so the pod (or node) counts as there since before the interval."""
    return moment if moment is not None and moment <= listed_at else None


def _metrics_key(cluster: Cluster) -> str:
    return f"billing:metrics-absent:{cluster.pk}"


def _pod_usage(api_client: k8s.ApiClient, cluster: Cluster) -> dict[tuple[str, str], Quantities] | None:
    """Measured CPU and memory per pod from metrics.k8s.io; None when the cluster serves none."""
    if cache.get(_metrics_key(cluster)):
        return None
    try:
        response = k8s.CustomObjectsApi(api_client).list_cluster_custom_object(
            "metrics.k8s.io", "v1beta1", "pods", _preload_content=False, _request_timeout=TIMEOUT
        )
        # With _preload_content=False the client returns the raw urllib3 response.
        page = json.loads(response.data)  # type: ignore[attr-defined]
    except (ApiException, HTTPError, OSError, ValueError):
        cache.set(_metrics_key(cluster), value=True, timeout=METRICS_ABSENT_SECONDS)
        return None
    return pod_usage_from_metrics(page)


def pod_usage_from_metrics(page: Json) -> dict[tuple[str, str], Quantities]:
    usage = {}
    for item in page.get("items") or ():
        metadata = item.get("metadata") or {}
        total = Quantities()
        for container in item.get("containers") or ():
            measured = container.get("usage") or {}
            total = total + Quantities(
                quantity(measured.get("cpu", "0")), quantity(measured.get("memory", "0")) / GIB
            )
        usage[(metadata.get("namespace", ""), metadata.get("name", ""))] = total
    return usage


def observe_cluster(cluster: Cluster, now: datetime) -> ClusterObservation:
    listed_at = now.timestamp()
    try:
        with cluster_api_client(cluster) as api_client:
            ops = KubeOps(api_client)
            pods, nodes = ops.pods(), ops.nodes()
            usage = _pod_usage(api_client, cluster)
    except ClusterCredentialsError as error:
        return ClusterObservation(listed_at, None, [], None, str(error))
    except (ApiException, HTTPError, OSError, ValueError) as error:
        return ClusterObservation(listed_at, None, [], None, f"cannot list the cluster: {error}")
    return ClusterObservation(listed_at, pods, nodes, usage)


def workload_of(pod: Json) -> str:
    """The pod's workload: its controller (a ReplicaSet stands for its Deployment), else its app
    label (a replayed trace counts as one workload), else the pod itself."""
    metadata = pod["metadata"]
    labels = metadata.get("labels") or {}
    owner = next((ref for ref in metadata.get("ownerReferences") or () if ref.get("controller")), None)
    if owner is not None:
        kind, name = owner.get("kind", ""), owner.get("name", "")
        template_hash = labels.get("pod-template-hash")
        if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
            return f"Deployment/{name[: -len(template_hash) - 1]}"
        return f"{kind}/{name}"
    for key in APP_LABELS:
        if labels.get(key):
            return f"{key.rsplit('/', 1)[-1]}/{labels[key]}"
    return f"Pod/{metadata['name']}"


def _quantities(values: Json) -> Quantities:
    resources = resources_of(values)
    return Quantities(resources.cpu_millis / 1000, resources.memory_mib / 1024, float(resources.gpus))


def _finished_at(pod: Json) -> float | None:
    ends = [
        _timestamp(((status.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        for status in (pod.get("status") or {}).get("containerStatuses") or ()
    ]
    known = [end for end in ends if end is not None]
    return max(known) if known else None


def pod_samples(observation: ClusterObservation, prices: CatalogPrices) -> list[PodSample]:
    """Pods bound to a node, running or finished with a known end."""
    samples = []
    usage = observation.usage or {}
    for pod in observation.pods or ():
        spec, metadata = pod.get("spec") or {}, pod["metadata"]
        if not spec.get("nodeName"):
            continue
        finished_at = None
        if is_finished(pod):
            finished_at = _finished_at(pod)
            if finished_at is None:
                continue  # finished at an unknown time: nothing to charge safely
            finished_at = min(finished_at, observation.listed_at)
        requested = pod_requests(pod)
        requests = Quantities(requested.cpu_millis / 1000, requested.memory_mib / 1024, float(requested.gpus))
        namespace = metadata.get("namespace", "default")
        samples.append(
            PodSample(
                namespace=namespace,
                name=metadata["name"],
                workload=workload_of(pod),
                node_name=spec["nodeName"],
                requests=requests,
                usage=usage.get((namespace, metadata["name"])),
                started_at=_not_after(
                    _timestamp((pod.get("status") or {}).get("startTime")), observation.listed_at
                ),
                finished_at=finished_at,
                serverless_price_per_hour=prices.serverless_price(requests, requested.ephemeral_mib / 1024),
            )
        )
    return samples


def managed_nodes_billed(cluster: Cluster, start: datetime, end: datetime) -> list[ManagedNode]:
    """The cluster's launched nodes that ran during [start, end). A node that left the active states
    without a termination time (a failed launch) stopped being billed when it did."""
    return list(
        ManagedNode.objects.filter(cluster=cluster, launched_at__isnull=False, launched_at__lt=end).filter(
            Q(terminated_at__gt=start) | Q(terminated_at__isnull=True, state__in=ACTIVE_STATES)
        )
    )


def _managed_sample(
    row: ManagedNode, name: str, capacity: Quantities, allocatable: Quantities, prices: CatalogPrices
) -> NodeSample:
    return NodeSample(
        name=name,
        instance_type=row.instance_type,
        capacity_type=row.capacity_type,
        zone=row.zone,
        price_per_hour=float(row.price_per_hour),
        on_demand_price_per_hour=prices.on_demand_price(row.instance_type, row.zone),
        capacity=capacity,
        allocatable=allocatable,
        started_at=row.launched_at.timestamp() if row.launched_at else None,
        stopped_at=row.terminated_at.timestamp() if row.terminated_at else None,
        managed_node_id=str(row.pk),
    )


def _labelled_sample(
    node: Json, pods_on_node: Sequence[PodSample], prices: CatalogPrices, listed_at: float
) -> NodeSample:
    metadata, status = node["metadata"], node.get("status") or {}
    instance_type, zone, capacity_type = offering_from_labels(metadata.get("labels") or {})
    price = prices.price(instance_type, zone, capacity_type) if instance_type else None
    if price is None and capacity_type == CapacityType.SERVERLESS:
        # A serverless "node" carries one pod and is billed as that pod's serverless price.
        each = [prices.serverless_price(pod.requests) for pod in pods_on_node]
        price = sum(p for p in each if p is not None) if each and None not in each else None
    capacity = _quantities(status.get("capacity") or {})
    allocatable = _quantities(status.get("allocatable") or {})
    return NodeSample(
        name=metadata["name"],
        instance_type=instance_type,
        capacity_type=capacity_type,
        zone=zone,
        price_per_hour=price,
        on_demand_price_per_hour=prices.on_demand_price(instance_type, zone) if instance_type else None,
        capacity=capacity,
        allocatable=allocatable if status.get("allocatable") else capacity,
        started_at=_not_after(_timestamp(metadata.get("creationTimestamp")), listed_at),
    )


def node_samples(
    observation: ClusterObservation,
    managed: Iterable[ManagedNode],
    pods: Sequence[PodSample],
    prices: CatalogPrices,
) -> list[NodeSample]:
    """Every node to bill: nodes Nodeless launched at the price paid (whether or not they
    registered), and the cluster's other nodes at their labels' catalog price."""
    rows = list(managed)
    by_name = {row.node_name: row for row in rows if row.node_name}
    by_instance = {row.instance_id: row for row in rows if row.instance_id}
    pods_by_node: dict[str, list[PodSample]] = {}
    for pod in pods:
        pods_by_node.setdefault(pod.node_name, []).append(pod)
    samples, billed = [], set()
    for node in observation.nodes:
        metadata, status = node["metadata"], node.get("status") or {}
        provider_id = (node.get("spec") or {}).get("providerID", "")
        row = by_name.get(metadata["name"]) or by_instance.get(provider_id.rsplit("/", 1)[-1])
        if row is None:
            samples.append(
                _labelled_sample(node, pods_by_node.get(metadata["name"], ()), prices, observation.listed_at)
            )
            continue
        billed.add(row.pk)
        capacity = _quantities(status.get("capacity") or {})
        allocatable = _quantities(status.get("allocatable") or {})
        samples.append(_managed_sample(row, metadata["name"], capacity, allocatable, prices))
    for row in rows:
        if row.pk in billed:
            continue
        # Launched but not (or no longer) a node: paid for, nothing runs on it.
        capacity = prices.capacity(row.instance_type) or Quantities()
        allocatable = prices.allocatable(row.instance_type) or capacity
        samples.append(
            _managed_sample(
                row, row.node_name or row.instance_id or str(row.pk), capacity, allocatable, prices
            )
        )
    return samples
