"""Raw-JSON readers of a cluster's pods and nodes, kept for the readers that have not moved to the
Kubernetes kernel yet (billing's observation and placements, the policy preview, trace replay). The
provisioning pass reads the cluster through `engines.kube` (`workers.provisioning.reads.observe`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from engines.planner import (
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Operator,
    PodRequest,
    Resources,
    Taint,
    TaintEffect,
    Toleration,
    TolerationOperator,
)
from workers.provisioning.pods import GPU_MODELS_ANNOTATION as GPU_MODELS_ANNOTATION  # lab reads it here
from workers.provisioning.pods import ISOLATE_ANNOTATION, NODE_ID_LABEL

Json = dict[str, Any]

GPU_RESOURCE = "nvidia.com/gpu"

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}


@lru_cache(maxsize=4096)
def quantity(text: str) -> float:
    """A Kubernetes quantity ("250m", "1.5", "512Mi", "2G") as a number of base units."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number, suffix = float(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    raise ValueError(f"{text!r} has an unknown unit {suffix!r}")


def resources_of(values: Json) -> Resources:
    return Resources(
        cpu_millis=int(round(quantity(values.get("cpu", "0")) * 1000)),
        memory_mib=int(-(-quantity(values.get("memory", "0")) // 2**20)),
        gpus=int(quantity(values.get(GPU_RESOURCE, "0"))),
        ephemeral_mib=int(-(-quantity(values.get("ephemeral-storage", "0")) // 2**20)),
    )


@lru_cache(maxsize=4096)
def _resources_of_items(items: tuple[tuple[str, Any], ...]) -> Resources:
    return resources_of(dict(items))


def _container_requests(container: Json) -> Resources:
    resources = container.get("resources") or {}
    # Kubernetes defaults a missing request to the limit.
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    # Cached by value: a big cluster's 50,000 pods repeat a few dozen request sets.
    return _resources_of_items(tuple(sorted(merged.items())))


@lru_cache(maxsize=4096)
def _with_pod_slot(requests: Resources) -> Resources:
    return requests + Resources(pods=1)


def pod_requests(pod: Json) -> Resources:
    """Effective requests as the scheduler computes them: max(sum of containers, largest init
    container) plus the pod overhead, and one pod slot."""
    spec = pod.get("spec") or {}
    containers: list[Json] = spec.get("containers") or []
    if len(containers) == 1 and not spec.get("initContainers") and not spec.get("overhead"):
        return _with_pod_slot(_container_requests(containers[0]))  # the common case, cached
    total = Resources()
    for container in containers:
        total = total + _container_requests(container)
    for init in spec.get("initContainers") or ():
        request = _container_requests(init)
        total = Resources(
            max(total.cpu_millis, request.cpu_millis),
            max(total.memory_mib, request.memory_mib),
            max(total.gpus, request.gpus),
            max(total.ephemeral_mib, request.ephemeral_mib),
        )
    overhead = resources_of(spec.get("overhead") or {})
    return total + overhead + Resources(pods=1)


def _toleration(raw: Json) -> Toleration:
    effect = raw.get("effect")
    return Toleration(
        key=raw.get("key") or "",
        operator=TolerationOperator(raw.get("operator") or "Equal"),
        value=raw.get("value") or "",
        effect=TaintEffect(effect) if effect else None,
    )


def taint(raw: Json) -> Taint:
    return Taint(
        key=raw["key"], value=raw.get("value") or "", effect=TaintEffect(raw.get("effect") or "NoSchedule")
    )


def _affinity_terms(spec: Json) -> tuple[NodeSelectorTerm, ...]:
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = []
    for term in required.get("nodeSelectorTerms") or ():
        expressions = tuple(
            NodeSelectorRequirement(e["key"], Operator(e["operator"]), tuple(e.get("values") or ()))
            for e in term.get("matchExpressions") or ()
        )
        terms.append(NodeSelectorTerm(expressions))
    return tuple(terms)


def pod_request(pod: Json) -> PodRequest:
    metadata, spec = pod["metadata"], pod.get("spec") or {}
    annotations = metadata.get("annotations") or {}
    return PodRequest(
        uid=metadata["uid"],
        name=metadata["name"],
        namespace=metadata.get("namespace", "default"),
        requests=pod_requests(pod),
        labels=dict(metadata.get("labels") or {}),
        node_selector=dict(spec.get("nodeSelector") or {}),
        required_node_affinity=_affinity_terms(spec),
        tolerations=tuple(_toleration(t) for t in spec.get("tolerations") or ()),
        isolate=annotations.get(ISOLATE_ANNOTATION, "").lower() == "true",
        gpu_models=frozenset(
            m.strip() for m in annotations.get(GPU_MODELS_ANNOTATION, "").split(",") if m.strip()
        ),
        priority=int(spec.get("priority") or 0),
    )


def is_daemonset_pod(pod: Json) -> bool:
    return any(ref.get("kind") == "DaemonSet" for ref in pod["metadata"].get("ownerReferences") or ())


def is_finished(pod: Json) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


@dataclass
class NodeView:
    name: str
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    unschedulable: bool
    ready: bool
    allocatable: Resources
    instance_id: str
    pods: list[Json] = field(default_factory=list)
    _requested: Resources | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def workload_pods(self) -> list[Json]:
        """Pods that keep the node busy: not daemonsets, not finished."""
        return [pod for pod in self.pods if not is_daemonset_pod(pod) and not is_finished(pod)]

    def requested(self) -> Resources:
        """What the node's unfinished pods request (computed once: a pass asks several times)."""
        if self._requested is None:
            total = Resources()
            for pod in self.pods:
                if not is_finished(pod):
                    total = total + pod_requests(pod)
            self._requested = total
        return self._requested


def node_view(node: Json) -> NodeView:
    metadata, spec, status = node["metadata"], node.get("spec") or {}, node.get("status") or {}
    provider_id = spec.get("providerID", "")
    allocatable = status.get("allocatable") or {}
    return NodeView(
        name=metadata["name"],
        labels=dict(metadata.get("labels") or {}),
        taints=list(spec.get("taints") or ()),
        unschedulable=bool(spec.get("unschedulable")),
        ready=any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ()
        ),
        allocatable=resources_of(allocatable) + Resources(pods=int(quantity(allocatable.get("pods", "0")))),
        instance_id=provider_id.rsplit("/", 1)[-1] if provider_id.startswith("aws://") else "",
    )


@dataclass
class ClusterView:
    """One consistent read of the cluster: nodes with their pods, and the unbound pods."""

    nodes: dict[str, NodeView]
    pending: list[Json]
    daemonset_overhead: Resources
    read_at: datetime

    def managed_nodes(self) -> list[NodeView]:
        return [node for node in self.nodes.values() if NODE_ID_LABEL in node.labels]

    @cached_property
    def by_row_or_instance(self) -> dict[str, NodeView]:
        """Managed nodes by their row id label and by their instance id (both are unique)."""
        index: dict[str, NodeView] = {}
        for node in self.managed_nodes():
            if node.instance_id:
                index[f"instance:{node.instance_id}"] = node
            index[f"row:{node.labels[NODE_ID_LABEL]}"] = node
        return index


def cluster_view(pods: Iterable[Json], nodes: Iterable[Json], read_at: datetime) -> ClusterView:
    views = {view.name: view for view in map(node_view, nodes)}
    pending: list[Json] = []
    daemonsets: dict[str, Resources] = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        node_name = spec.get("nodeName")
        if is_daemonset_pod(pod):
            owner = next(
                ref["uid"] for ref in pod["metadata"]["ownerReferences"] if ref.get("kind") == "DaemonSet"
            )
            request = pod_requests(pod)
            known = daemonsets.get(owner)
            if known is None or request.cpu_millis > known.cpu_millis:
                daemonsets[owner] = request
        if node_name:
            if node_name in views:
                views[node_name].pods.append(pod)
        elif not is_finished(pod) and not pod["metadata"].get("deletionTimestamp"):
            pending.append(pod)
    overhead = Resources()
    for request in daemonsets.values():
        overhead = overhead + request
    return ClusterView(views, pending, overhead, read_at)
