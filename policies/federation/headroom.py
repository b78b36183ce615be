"""What an observe-mode member's own autoscaler can still add, as Karmada's scheduler-estimator
would count it if it knew about autoscalers: node-group maximums and NodePool limits.

A member that runs Cluster Autoscaler or Karpenter launches nodes for pending pods, so counting
only the nodes it has now makes a scale-from-near-zero member look full (issue 16: "a member
running its own autoscaler looks full and gets nothing"). Two sources, read from the member:

- **Cluster Autoscaler** writes its status to the ConfigMap ``cluster-autoscaler-status`` (key
  ``status``, YAML of ``ClusterAutoscalerStatus`` in kubernetes/autoscaler
  ``cluster-autoscaler/clusterstate/api/types.go``): per node group ``health.cloudProviderTarget``
  (its target size) and ``health.maxSize``. A group can add ``maxSize − cloudProviderTarget``
  nodes; groups whose health is not ``Healthy`` or whose scale-up is in ``Backoff`` add none (CA
  itself will not scale them now). Each added node is sized like the group's nodes (nodes with a
  label whose value is the group's name, as EKS's ``eks.amazonaws.com/nodegroup`` or GKE's
  ``cloud.google.com/gke-nodepool`` carry), else like the member's most common schedulable node.
- **Karpenter** NodePools (``karpenter.sh/v1``): ``spec.limits`` minus ``status.resources`` for
  each limited resource (cpu, memory, nvidia.com/gpu, pods). A NodePool without a limit on a
  resource can add as much of it as is asked for: the member is then *elastic* (its room for a
  workload follows the workload, as a nodeless cluster's does).

Pure: parses objects already read; ``workers.federation.observe`` reads them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from engines.kube.quantity import QuantityError, mebibytes, millicores, whole
from policies.federation.pricing import NodeInfo

CA_STATUS_CONFIGMAP = "cluster-autoscaler-status"
CA_STATUS_NAMESPACE = "kube-system"
CA_STATUS_KEY = "status"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class Headroom:
    """Capacity an autoscaler can still add: CPU millicores, MiB, GPUs and pod slots (None: no
    limit on pod slots); ``elastic`` when CPU or memory has no limit at all; ``sources`` says where
    it was read, for people."""

    cpu_millis: int = 0
    memory_mib: int = 0
    gpus: int = 0
    pods: int | None = 0
    elastic: bool = False
    sources: tuple[str, ...] = ()

    def __add__(self, other: Headroom) -> Headroom:
        return Headroom(
            self.cpu_millis + other.cpu_millis,
            self.memory_mib + other.memory_mib,
            self.gpus + other.gpus,
            None if self.pods is None or other.pods is None else self.pods + other.pods,
            self.elastic or other.elastic,
            self.sources + other.sources,
        )


NO_HEADROOM = Headroom()


def cluster_autoscaler_headroom(
    configmap: Mapping[str, Any] | None, nodes: Sequence[NodeInfo], labels: Sequence[Mapping[str, str]]
) -> Headroom:
    """Nodes Cluster Autoscaler may still add, sized like their group's nodes. ``labels[i]`` are
    the labels of ``nodes[i]``."""
    document = ((configmap or {}).get("data") or {}).get(CA_STATUS_KEY)
    if not document:
        return NO_HEADROOM
    try:
        status = yaml.safe_load(document)
    except yaml.YAMLError:
        return NO_HEADROOM  # the older plain-text format: it states no maxSize we can read
    if not isinstance(status, dict):
        return NO_HEADROOM
    fallback = _most_common(node for node in nodes if node.schedulable)
    total = NO_HEADROOM
    for group in status.get("nodeGroups") or []:
        if not isinstance(group, dict):
            continue
        health = group.get("health") or {}
        backoff = (group.get("scaleUp") or {}).get("status") == "Backoff"
        if health.get("status") != "Healthy" or backoff:
            continue
        try:
            room = int(health.get("maxSize", 0)) - int(health.get("cloudProviderTarget", 0))
        except (TypeError, ValueError):
            continue
        name = str(group.get("name") or "")
        shape = (
            _most_common(
                node for node, node_labels in zip(nodes, labels, strict=True) if name in node_labels.values()
            )
            or fallback
        )
        if room <= 0 or shape is None:
            continue
        total = total + Headroom(
            shape.cpu_millis * room,
            shape.memory_mib * room,
            shape.gpus * room,
            shape.pods * room,
            sources=(f"Cluster Autoscaler group {name}: {room} more node{'s' if room != 1 else ''}",),
        )
    return total


def _most_common(nodes: Iterable[NodeInfo]) -> NodeInfo | None:
    counted = Counter((node.cpu_millis, node.memory_mib, node.gpus, node.pods) for node in nodes)
    if not counted:
        return None
    (cpu, memory, gpus, pods), _ = counted.most_common(1)[0]
    return NodeInfo("", cpu, memory, gpus, pods)


def karpenter_headroom(nodepools: Iterable[Mapping[str, Any]]) -> Headroom:
    """What Karpenter NodePools may still launch: limits minus what they run."""
    total = NO_HEADROOM
    for pool in nodepools:
        limits = ((pool.get("spec") or {}).get("limits")) or {}
        used = ((pool.get("status") or {}).get("resources")) or {}
        name = str((pool.get("metadata") or {}).get("name") or "")
        cpu = _left(limits, used, "cpu", millicores)
        memory = _left(limits, used, "memory", mebibytes)
        gpus = _left(limits, used, GPU_RESOURCE, whole)
        pods = _left(limits, used, "pods", whole)
        unlimited = cpu is None or memory is None
        described = (
            "no limit" if unlimited else f"{(cpu or 0) // 1000} vCPU, {(memory or 0) // 1024} GiB left"
        )
        total = total + Headroom(
            cpu or 0,
            memory or 0,
            gpus or 0,
            pods,
            elastic=unlimited,
            sources=(f"Karpenter NodePool {name}: {described}",),
        )
    return total


def _left(
    limits: Mapping[str, Any], used: Mapping[str, Any], resource: str, parse: Callable[[str], int]
) -> int | None:
    """Limit minus use of one resource; None when the NodePool does not limit it."""
    if resource not in limits:
        return None
    try:
        limit = parse(str(limits[resource]))
        spent = parse(str(used[resource])) if resource in used else 0
    except QuantityError:
        return 0  # a limit we cannot read adds nothing, rather than everything
    return max(int(limit) - int(spent), 0)
