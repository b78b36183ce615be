"""What metering reads of a cluster, as samples: its nodes and pods (the cluster's one observation,
`clusters.observation`), the metrics API when the cluster has one, and the nodes Nodeless launched."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Q

from clusters.kube.access import ClusterCredentialsError, cluster_api
from clusters.kube.api import ClusterRefused, ClusterUnreachable
from clusters.models import ACTIVE_STATES, Cluster, ManagedNode
from clusters.observation.reading import ClusterUnavailable, read_cluster
from clusters.observation.recording import observation_failed, observation_record
from engines.kube.capacity import CapacityType
from engines.kube.cluster import ClusterState
from engines.kube.nodes import Node
from engines.kube.pods import Pod, try_requests
from engines.kube.quantity import GIB, QuantityError, parse_quantity
from engines.kube.resources import Resources
from engines.metering import CatalogPrices, NodeSample, PodSample, Quantities, offering_from_labels

logger = logging.getLogger(__name__)

Json = dict[str, Any]
METRICS_ABSENT_SECONDS = 600  # how long to remember that a cluster serves no metrics API
APP_LABELS = ("app.kubernetes.io/name", "app", "nodeless.io/trace")
METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/pods"


@dataclass(frozen=True)
class ClusterRead:
    """One read of a cluster for metering; `state` is None when it could not be read (`error`
    says why)."""

    listed_at: float
    state: ClusterState | None
    usage: dict[tuple[str, str], Quantities] | None
    error: str = ""
    # What each container measured, by pod (right-sizing reads it); None when no metrics API.
    containers: dict[tuple[str, str], dict[str, Quantities]] | None = None

    @property
    def pods(self) -> list[Pod] | None:
        """Every pod seen (waiting, bound, finished), None when the cluster could not be read."""
        if self.state is None:
            return None
        return [*self.state.pending, *self.state.bound_pods]

    @property
    def nodes(self) -> list[Node]:
        return [] if self.state is None else [observed.node for observed in self.state.nodes.values()]


def _not_after(moment: datetime | None, listed_at: float) -> float | None:
    """Simulated clusters may run a faster clock than ours: a time after the listing is not to be
    trusted, so the pod (or node) counts as there since before the interval."""
    if moment is None:
        return None
    stamp = moment.timestamp()
    return stamp if stamp <= listed_at else None


def _metrics_key(cluster: Cluster) -> str:
    return f"billing:metrics-absent:{cluster.pk}"


def _pod_metrics(cluster: Cluster) -> Json | None:
    """The metrics.k8s.io list of pods' measured CPU and memory; None when the cluster serves none."""
    if cache.get(_metrics_key(cluster)):
        return None
    try:
        return cluster_api(cluster).request("GET", METRICS_PATH)
    except (ClusterUnreachable, ClusterRefused, ClusterCredentialsError, ValueError):
        cache.set(_metrics_key(cluster), value=True, timeout=METRICS_ABSENT_SECONDS)
        return None


def _measured(values: Json, name: str) -> float:
    try:
        return float(parse_quantity(values.get(name, 0)))
    except QuantityError:
        return 0.0


def container_usage_from_metrics(page: Json) -> dict[tuple[str, str], dict[str, Quantities]]:
    """Measured CPU and memory of each container, by (namespace, pod name)."""
    usage: dict[tuple[str, str], dict[str, Quantities]] = {}
    for item in page.get("items") or ():
        metadata = item.get("metadata") or {}
        containers = usage.setdefault((metadata.get("namespace", ""), metadata.get("name", "")), {})
        for container in item.get("containers") or ():
            measured = container.get("usage") or {}
            containers[str(container.get("name", ""))] = Quantities(
                _measured(measured, "cpu"), _measured(measured, "memory") / GIB
            )
    return usage


def observe_cluster(cluster: Cluster, now: datetime) -> ClusterRead:
    """Read the cluster (and keep what was seen as its latest observation)."""
    listed_at = now.timestamp()
    try:
        state = read_cluster(cluster, now=now)
    except ClusterUnavailable as error:
        observation_failed(cluster, str(error), now)
        return ClusterRead(listed_at, None, None, str(error))
    observation_record(cluster, state)
    page = _pod_metrics(cluster)
    if page is None:
        return ClusterRead(listed_at, state, None)
    containers = container_usage_from_metrics(page)
    usage = {key: sum(measured.values(), Quantities()) for key, measured in containers.items()}
    return ClusterRead(listed_at, state, usage, containers=containers)


def workload_of(pod: Pod) -> str:
    """The pod's workload: its controller (a ReplicaSet stands for its Deployment), else its app
    label (a replayed trace counts as one workload), else the pod itself."""
    labels = pod.labels
    owner = pod.controller
    if owner is not None:
        kind, name = owner.get("kind", ""), owner.get("name", "")
        template_hash = labels.get("pod-template-hash")
        if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
            return f"Deployment/{name[: -len(template_hash) - 1]}"
        return f"{kind}/{name}"
    for key in APP_LABELS:
        if labels.get(key):
            return f"{key.rsplit('/', 1)[-1]}/{labels[key]}"
    return f"Pod/{pod.name}"


def quantities(resources: Resources) -> Quantities:
    return Quantities(resources.cpu_millis / 1000, resources.memory_mib / 1024, float(resources.gpus))


def pod_samples(read: ClusterRead, prices: CatalogPrices) -> list[PodSample]:
    """Pods bound to a node, running or finished with a known end."""
    samples = []
    usage = read.usage or {}
    for pod in read.state.bound_pods if read.state else ():
        finished_at = None
        if pod.is_finished:
            finished = pod.finished_at
            if finished is None:
                continue  # finished at an unknown time: nothing to charge safely
            finished_at = min(finished.timestamp(), read.listed_at)
        requested = try_requests(pod)
        if requested is None:
            continue  # a quantity no scheduler could read: the pod never ran
        requests = quantities(requested)
        samples.append(
            PodSample(
                namespace=pod.namespace,
                name=pod.name,
                workload=workload_of(pod),
                node_name=pod.node_name,
                requests=requests,
                usage=usage.get((pod.namespace, pod.name)),
                started_at=_not_after(pod.started_at, read.listed_at),
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
    node: Node, pods_on_node: Sequence[PodSample], prices: CatalogPrices, listed_at: float
) -> NodeSample:
    instance_type, zone, capacity_type = offering_from_labels(node.labels)
    price = prices.price(instance_type, zone, capacity_type) if instance_type else None
    if price is None and capacity_type == CapacityType.SERVERLESS:
        # A serverless "node" carries one pod and is billed as that pod's serverless price.
        each = [prices.serverless_price(pod.requests) for pod in pods_on_node]
        price = sum(p for p in each if p is not None) if each and None not in each else None
    capacity = quantities(node.capacity)
    return NodeSample(
        name=node.name,
        instance_type=instance_type,
        capacity_type=capacity_type,
        zone=zone,
        price_per_hour=price,
        on_demand_price_per_hour=prices.on_demand_price(instance_type, zone) if instance_type else None,
        capacity=capacity,
        allocatable=quantities(node.allocatable) if node.status.get("allocatable") else capacity,
        started_at=_not_after(node.created_at, listed_at),
    )


def node_samples(
    read: ClusterRead,
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
    for node in read.nodes:
        row = by_name.get(node.name) or by_instance.get(node.instance_id)
        if row is None:
            samples.append(_labelled_sample(node, pods_by_node.get(node.name, ()), prices, read.listed_at))
            continue
        billed.add(row.pk)
        samples.append(
            _managed_sample(row, node.name, quantities(node.capacity), quantities(node.allocatable), prices)
        )
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
