"""A recorded launch as the cloud call it becomes: the ordered offerings, the idempotency token and
the tags the instance carries (its node's labels and taints among them). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clusters.cloud.interface import LaunchRequest, Offering
from engines.kube import CapacityType
from workers.provisioning.pods import INITIALIZING_TAINT, NODE_ID_LABEL, RESERVED_TAINT
from workers.provisioning.records import ClusterFacts, NodeRecord

MANAGED_TAG = "nodeless.io/managed-by"
CLUSTER_TAG = "nodeless.io/cluster"
ORGANIZATION_TAG = "nodeless.io/organization"
POD_TAG = "nodeless.io/pod"
NODE_LABELS_TAG = "nodeless.io/node-labels"
NODE_TAINTS_TAG = "nodeless.io/node-taints"


def instance_tags(cluster: ClusterFacts, record: NodeRecord) -> dict[str, str]:
    labels = {NODE_ID_LABEL: record.id}
    # A reserved node keeps its taint for life (nothing else may land on it); a packed node keeps
    # the initializing taint until its planned pods are bound, so the default scheduler cannot
    # take the room the planner meant for them. Each taint's value names its node's row, so the
    # toleration a planned pod gains before its bind (`bind.tolerations_for`) opens that one node
    # to it and no other.
    if record.reserved_for_pod and record.planned_pods:
        taint = f"{RESERVED_TAINT}={record.planned_pods[0].uid}:NoSchedule"
    else:
        taint = f"{INITIALIZING_TAINT}={record.id}:NoSchedule"
    tags = {
        f"kubernetes.io/cluster/{cluster.eks_cluster_name}": "owned",
        MANAGED_TAG: "nodeless",
        CLUSTER_TAG: cluster.id,
        ORGANIZATION_TAG: cluster.organization_id,
        NODE_LABELS_TAG: ",".join(f"{key}={value}" for key, value in labels.items()),
        NODE_TAINTS_TAG: taint,
        "Name": f"nodeless-{cluster.name}-{record.id[:8]}",
    }
    if record.reserved_for_pod:
        tags[POD_TAG] = record.reserved_for_pod
    return tags


def launch_request(cluster: ClusterFacts, record: NodeRecord) -> LaunchRequest:
    offerings = tuple(
        Offering(o["instance_type"], o["zone"], CapacityType(o["capacity_type"]))
        for o in record.offerings
        if CapacityType(o["capacity_type"]).is_instance
    )
    return LaunchRequest(offerings, record.idempotency_token, instance_tags(cluster, record))


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
