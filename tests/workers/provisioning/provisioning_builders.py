"""Builders for the provisioning pass's inputs: pod and node JSON as the API serves it, records of our
rows, and the frozen `PassInputs` the decisions read."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from clusters.cloud.interface import Instance, InstanceState, InterruptionNotice
from engines.kube import CapacityType, Node, Pod
from engines.kube.cluster import cluster_state
from engines.planner import Catalog, PlannerPolicy
from workers.provisioning.inputs import NodeIndex, PassInputs
from workers.provisioning.pods import INITIALIZING_TAINT, MANAGED_LABEL
from workers.provisioning.records import ClusterFacts, Lifecycle, NodeRecord, PlannedPod

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CLUSTER = ClusterFacts(
    id="c0ffee00-0000-0000-0000-000000000001",
    organization_id="0rg00000-0000-0000-0000-000000000001",
    name="shop",
    region="us-east-1",
    eks_cluster_name="shop",
)
EMPTY_CATALOG = Catalog(provider="aws", region="us-east-1", zones=(), instance_types=(), offerings=())
_uids = itertools.count(1)


def pod_json(
    name: str,
    *,
    cpu: str = "500m",
    memory: str = "512Mi",
    namespace: str = "default",
    node: str = "",
    owner: str = "",
    daemonset: str = "",
    annotations: dict[str, str] | None = None,
    phase: str = "",
    unschedulable: bool = True,
    extra_requests: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod; pending and refused by the scheduler unless `node` names where it runs."""
    references = []
    if owner:
        references.append({"kind": "ReplicaSet", "name": owner, "uid": owner, "controller": True})
    if daemonset:
        references.append({"kind": "DaemonSet", "name": daemonset, "uid": daemonset, "controller": True})
    status: dict[str, Any] = {"phase": phase or ("Running" if node else "Pending")}
    if not node and unschedulable:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}-{next(_uids)}",
            "annotations": annotations or {},
            "ownerReferences": references,
        },
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "resources": {"requests": {"cpu": cpu, "memory": memory, **(extra_requests or {})}},
                }
            ],
            **({"nodeName": node} if node else {}),
        },
        "status": status,
    }


def node_json(
    name: str,
    *,
    instance_id: str = "",
    record_id: str = "",
    ready: bool = True,
    cpu: str = "2",
    memory: str = "8Gi",
    pods: str = "110",
    taints: tuple[dict[str, str], ...] = (),
    unschedulable: bool = False,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A node; `record_id` labels it as one Nodeless launched (the record's instance is `instance_id`)."""
    all_labels = dict(labels or {})
    if record_id:
        all_labels[MANAGED_LABEL] = "nodeless"
    spec: dict[str, Any] = {"taints": list(taints), "unschedulable": unschedulable}
    if instance_id:
        spec["providerID"] = f"aws:///us-east-1a/{instance_id}"
    return {
        "metadata": {"name": name, "labels": all_labels},
        "spec": spec,
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


INITIALIZING = {"key": INITIALIZING_TAINT, "value": "true", "effect": "NoSchedule"}


def record(record_id: str = "r1", state: Lifecycle = Lifecycle.READY, **fields: Any) -> NodeRecord:
    defaults: dict[str, Any] = {
        "idempotency_token": f"nl-{record_id}",
        "instance_id": f"i-{record_id}",
        "node_name": f"node-{record_id}" if state in (Lifecycle.READY, Lifecycle.DRAINING) else "",
        "instance_type": "m5.large",
        "capacity_type": CapacityType.ON_DEMAND.value,
        "zone": "us-east-1a",
        "price_per_hour": 0.096,
        "ready_at": NOW - timedelta(hours=1) if state == Lifecycle.READY else None,
        "launched_at": NOW - timedelta(hours=1) if state != Lifecycle.LAUNCHING else None,
    }
    return NodeRecord(id=record_id, state=state, **{**defaults, **fields})


def planned(pod: dict[str, Any]) -> PlannedPod:
    view = Pod(pod)
    return PlannedPod.of(view, view.requests)


def instance(
    instance_id: str, state: InstanceState = InstanceState.RUNNING, tags: dict[str, str] | None = None
) -> Instance:
    return Instance(
        instance_id=instance_id,
        instance_type="m5.large",
        zone="us-east-1a",
        capacity_type=CapacityType.ON_DEMAND,
        state=state,
        launched_at=NOW - timedelta(hours=1),
        private_ip="",
        private_dns_name="",
        tags=tags or {},
    )


def inputs(
    *,
    pods: list[dict[str, Any]] = (),  # type: ignore[assignment]
    nodes: list[dict[str, Any]] = (),  # type: ignore[assignment]
    records: tuple[NodeRecord, ...] = (),
    instances: dict[str, Instance] | None = None,
    notices: tuple[InterruptionNotice, ...] = (),
    policy: PlannerPolicy | None = None,
    catalog: Catalog | None = None,
    scale_down_delay: timedelta = timedelta(seconds=30),
    now: datetime = NOW,
    bound_now: frozenset[str] = frozenset(),
) -> PassInputs:
    state = cluster_state([Pod(p) for p in pods], [Node(n) for n in nodes], now)
    return PassInputs(
        cluster=CLUSTER,
        state=state,
        nodes=NodeIndex(state),
        records=records,
        instances=instances,
        policy=policy or PlannerPolicy(),
        catalog=catalog or EMPTY_CATALOG,
        scale_down_delay=scale_down_delay,
        now=now,
        notices=notices,
        bound_now=bound_now,
    )
