"""What one look at a member cluster found, in the shape the federation services read it.

The federation loop fills these in (``workers.federation.observe``); the services that sync
placements and statuses from them (``policies.federation.status``) never talk to a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policies.federation.snapshots import Inventory


@dataclass(frozen=True)
class ObjectState:
    """Our workload object in a member, as its status reports it."""

    kind: str
    generation: int  # the workload generation we applied (annotation)
    # Deployment/StatefulSet replicas, Job/CronJob parallelism, a DaemonSet's desired pod count
    replicas: int
    ready: int = 0
    available: int = 0
    succeeded: int = 0
    failed: int = 0
    complete: bool = False
    failure: str = ""  # a Job's Failed condition, in words
    status: dict[str, Any] = field(default_factory=dict)  # the object's status as the member wrote it


@dataclass
class PodSummary:
    """Our pods of one workload in one member."""

    running: int = 0
    pending: int = 0  # not running yet: the unschedulable and stuck ones among them
    unschedulable: int = 0  # the scheduler found no node with room
    stuck: int = 0  # waiting on an image pull, crash looping, missing its configuration
    failed: int = 0
    problem: str = ""  # the first problem seen, in words


@dataclass
class MemberReport:
    """One member cluster: reachable or not (and why), its inventory, and our objects and pods
    there, keyed by workload id."""

    cluster_id: str
    problem: str = ""
    inventory: Inventory | None = None
    objects: dict[str, ObjectState] = field(default_factory=dict)
    pods: dict[str, PodSummary] = field(default_factory=dict)
    # By workload id, its companions' statuses there that the endpoint gathers, by "Kind/name"
    # (``workers.federation.companion_statuses``); read only when some workload has such companions.
    companion_statuses: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def reachable(self) -> bool:
        return self.inventory is not None
