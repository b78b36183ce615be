"""A recorded launch as the cloud call it becomes: the ordered offerings, the idempotency token, the
tags the instance carries, and what its node registers with (the labels and taints its kubelet's
flags give it, which its launch template carries). Pure.

Labels the kubelet may not set on itself (NodeRestriction) and those that depend on the instance
type or capacity type the fleet chose are applied by the loop once the node registered
(`registration_labels`), as Karpenter's registration controller does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clusters.cloud.interface import LaunchRequest, Offering
from clusters.cloud.nodeadm import split_labels
from engines.kube import CapacityType
from engines.kube import labels as wk
from engines.kube.capacity import NODELESS_LABEL
from engines.planner import Catalog, PlannerPolicy
from workers.provisioning.pods import INITIALIZING_TAINT, MANAGED_LABEL, RESERVED_TAINT
from workers.provisioning.records import ClusterFacts, NodeRecord

MANAGED_TAG = "nodeless.io/managed-by"
CLUSTER_TAG = "nodeless.io/cluster"
ORGANIZATION_TAG = "nodeless.io/organization"
POD_TAG = "nodeless.io/pod"
CLUSTER_LABEL = "nodeless.io/cluster"
EKS_CAPACITY_LABEL = "eks.amazonaws.com/capacityType"
ROLE_LABEL = "node-role.kubernetes.io/nodeless"


def instance_tags(cluster: ClusterFacts, record: NodeRecord) -> dict[str, str]:
    tags = {
        f"kubernetes.io/cluster/{cluster.eks_cluster_name}": "owned",
        MANAGED_TAG: "nodeless",
        CLUSTER_TAG: cluster.id,
        ORGANIZATION_TAG: cluster.organization_id,
        "Name": f"nodeless-{cluster.name}-{record.id[:8]}",
    }
    if record.reserved_for_pod:
        tags[POD_TAG] = record.reserved_for_pod
    return tags


def node_labels(cluster: ClusterFacts, policy: PlannerPolicy) -> dict[str, str]:
    """Every label a node of this cluster carries whatever its type (the policy's included)."""
    return {**policy.node_labels, MANAGED_LABEL: "nodeless", CLUSTER_LABEL: cluster.id, ROLE_LABEL: ""}


def node_taints(record: NodeRecord, policy: PlannerPolicy) -> tuple[tuple[str, str, str], ...]:
    # A reserved node keeps its taint for life (nothing else may land on it); a packed node keeps
    # the initializing taint until its planned pods are bound, so the default scheduler cannot take
    # the room the planner meant for them.
    startup = (RESERVED_TAINT, "true") if record.reserved_for_pod else (INITIALIZING_TAINT, "true")
    taints = {(startup[0], startup[1], "NoSchedule")}
    taints |= {(t.key, t.value, t.effect.value) for t in policy.node_taints}
    return tuple(sorted(taints))


def launch_request(cluster: ClusterFacts, record: NodeRecord, policy: PlannerPolicy) -> LaunchRequest:
    offerings = tuple(
        Offering(o["instance_type"], o["zone"], CapacityType(o["capacity_type"]))
        for o in record.offerings
        if CapacityType(o["capacity_type"]).is_instance
    )
    kubelet, _ = split_labels(node_labels(cluster, policy))
    return LaunchRequest(
        offerings,
        record.idempotency_token,
        instance_tags(cluster, record),
        node_labels=kubelet,
        node_taints=node_taints(record, policy),
    )


def registration_labels(
    cluster: ClusterFacts, record: NodeRecord, policy: PlannerPolicy, catalog: Catalog
) -> dict[str, str]:
    """What the loop puts on a node once it registered: the labels its kubelet may not set, and those
    of the instance type and capacity type the fleet chose (the planner expects them on the node)."""
    _, forbidden = split_labels(node_labels(cluster, policy))
    labels = dict(forbidden)
    try:
        capacity = CapacityType(record.capacity_type)
    except ValueError:
        capacity = None
    if capacity is not None and capacity.is_instance:
        labels[wk.CAPACITY_TYPE] = capacity.aws_value
        labels[NODELESS_LABEL] = capacity.aws_value
        labels[EKS_CAPACITY_LABEL] = "SPOT" if capacity is CapacityType.SPOT else "ON_DEMAND"
    shape = next((t for t in catalog.instance_types if t.name == record.instance_type), None)
    if shape is not None:
        labels[wk.INSTANCE_FAMILY] = shape.family
        labels[wk.INSTANCE_CPU] = str(shape.vcpu)
        labels[wk.INSTANCE_MEMORY] = str(shape.memory_mib)
        labels[wk.INSTANCE_GPU_COUNT] = str(shape.gpus)
        if shape.generation:
            labels[wk.INSTANCE_GENERATION] = str(shape.generation)
        if shape.gpu_model:
            labels[wk.INSTANCE_GPU_NAME] = shape.gpu_model.lower()
    return labels


def launched_offering(record: NodeRecord, offering: Offering) -> Mapping[str, Any]:
    """The record's offering the cloud launched (with its price), else the plan's first."""
    return next(
        (
            o
            for o in record.offerings
            if o["instance_type"] == offering.instance_type
            and o["zone"] == offering.zone
            and CapacityType(o["capacity_type"]) == offering.capacity_type
        ),
        record.offerings[0],
    )
