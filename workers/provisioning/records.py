"""What the pass's decisions know of the nodes Nodeless launched: typed, read-only values.

A `NodeRecord` is one ManagedNode row as it stood when the pass read it (or after the pass changed
it through the clusters app's services); decisions read records, never ORM objects. Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from engines.kube import Pod, Resources


class Lifecycle(StrEnum):
    """A managed node's state; the values of `clusters.models.NodeState` (a test keeps them equal)."""

    LAUNCHING = "launching"  # intent recorded, the cloud call not confirmed yet
    PENDING = "pending"  # instance running, waiting for its node
    READY = "ready"
    DRAINING = "draining"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"


ACTIVE = frozenset(
    {Lifecycle.LAUNCHING, Lifecycle.PENDING, Lifecycle.READY, Lifecycle.DRAINING, Lifecycle.TERMINATING}
)


@dataclass(frozen=True, slots=True)
class PlannedPod:
    """A pod the planner put on a node that is not Ready yet: bound to it once it is.

    `owner` is the pod's controller: when the pod itself is gone (evicted, replaced), a new pod of the
    same controller takes its place. `requests` always counts one pod slot. `volumes`: the claims it
    mounts, which count against the node's attach limit before it is bound."""

    uid: str
    namespace: str
    name: str
    owner: str
    requests: Resources
    volumes: int = 0

    @classmethod
    def of(cls, pod: Pod, requests: Resources) -> PlannedPod:
        # What the row keeps of the requests (and so what a record read back says).
        kept = Resources(requests.cpu_millis, requests.memory_mib, requests.gpus, 0, 1)
        return cls(pod.uid, pod.namespace, pod.name, pod.controller_uid, kept, len(pod.claim_names))

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        """The row's JSON form (`ManagedNode.planned_pods` entries)."""
        return {
            "uid": self.uid,
            "namespace": self.namespace,
            "name": self.name,
            "owner": self.owner,
            "cpu": self.requests.cpu_millis,
            "memory": self.requests.memory_mib,
            "gpu": self.requests.gpus,
            "volumes": self.volumes,
        }

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> PlannedPod:
        return cls(
            uid=str(entry["uid"]),
            namespace=str(entry.get("namespace", "")),
            name=str(entry.get("name", "")),
            owner=str(entry.get("owner") or ""),
            requests=Resources(
                int(entry.get("cpu", 0)), int(entry.get("memory", 0)), int(entry.get("gpu", 0)), 0, 1
            ),
            volumes=int(entry.get("volumes", 0)),
        )


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One managed node as the database holds it."""

    id: str
    state: Lifecycle
    idempotency_token: str = ""
    plan_node_id: str = ""
    reason: str = ""
    instance_id: str = ""
    node_name: str = ""
    instance_type: str = ""
    capacity_type: str = ""
    zone: str = ""
    price_per_hour: float = 0.0
    offerings: tuple[Mapping[str, Any], ...] = ()  # the plan's ordered fallbacks, as the row keeps them
    planned_pods: tuple[PlannedPod, ...] = ()
    reserved_for_pod: str = ""  # "namespace/name" of the one pod a reserved node is for
    replaced_by_id: str = ""  # consolidation: the record launched to take its pods (drained once Ready)
    interrupted_at: datetime | None = None
    empty_since: datetime | None = None
    launch_requested_at: datetime | None = None
    launched_at: datetime | None = None
    ready_at: datetime | None = None
    policy_version: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def display_name(self) -> str:
        """How decisions name the node (the row's `str`)."""
        return self.node_name or self.instance_id or f"node {self.idempotency_token[:12]}"

    @property
    def planned_requests(self) -> Resources:
        total = Resources()
        for planned in self.planned_pods:
            total = total + planned.requests
        return total


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    """What decisions and launch requests need to know of the cluster itself."""

    id: str
    organization_id: str
    name: str
    region: str
    eks_cluster_name: str
