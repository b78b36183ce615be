"""Member clusters as the federation engine sees them: frozen ``ClusterSnapshot``s built from the
Cluster rows and what the federation loop just observed in each cluster.

Free capacity (``ClusterSnapshot.free``, what new replicas may use):
- observe clusters: allocatable of the Ready, schedulable, untainted nodes, minus what the other
  pods request, minus what our placements there hold (counted from the placements, not from
  pods, so replicas applied but not yet created are not counted as free: Karmada #6518);
- nodeless clusters: the provisioning policy's vCPU limit minus what runs there (no limit: as
  much as a replica count can use); memory and GPUs are not limited by policy.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clusters.models import Cluster, ClusterObservation
from engines.federation import ClusterMode, ClusterSnapshot, Resources, WorkloadKind
from engines.planner import Discount
from policies.federation.pricing import NodeInfo, nodeless_pricing, observe_pricing, settings_key
from policies.federation.spec import federation_labels
from policies.selectors import provisioning_policy_in_force

UNLIMITED = 1 << 40
_KIND_PERMISSIONS = {
    WorkloadKind.DEPLOYMENT: "create deployments.apps",
    WorkloadKind.JOB: "create jobs.batch",
}


@dataclass(frozen=True)
class Usage:
    """Resources held by pods (or by placements): CPU millicores, MiB, GPUs and pod slots."""

    cpu_millis: int = 0
    memory_mib: int = 0
    gpus: int = 0
    pods: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.cpu_millis + other.cpu_millis,
            self.memory_mib + other.memory_mib,
            self.gpus + other.gpus,
            self.pods + other.pods,
        )

    def times(self, count: int) -> Usage:
        return Usage(self.cpu_millis * count, self.memory_mib * count, self.gpus * count, self.pods * count)


@dataclass(frozen=True)
class Inventory:
    """A member cluster's nodes and what the pods that are not ours request."""

    nodes: tuple[NodeInfo, ...]
    others: Usage


def _usage(vector: Sequence[int]) -> Usage:
    return Usage(vector[0], vector[1], vector[2], vector[4])


def _node_info(group: Mapping[str, Any]) -> NodeInfo:
    cpu, memory, gpus, _, pods = group["allocatable"]
    return NodeInfo(group["instance_type"], cpu, memory, gpus, pods, bool(group["schedulable"]))


def kept_inventory(observation: ClusterObservation | None, ours: Collection[str]) -> Inventory | None:
    """A member's inventory from its kept observation (`ClusterObservation`), for a preview that must
    not call the cluster: None when it was never read or its last read failed (as the loop would
    find it unreachable). `ours` are the organization's workload ids."""
    if observation is None or observation.observed_at is None or observation.problem:
        return None
    summary = observation.summary or {}
    nodes = tuple(
        _node_info(group) for group in summary.get("node_groups") or () for _ in range(int(group["count"]))
    )
    total = summary.get("requests_total") or [0, 0, 0, 0, 0]
    held = Usage()
    for owner, vector in (summary.get("workload_requests") or {}).items():
        if owner in ours:
            held = held + _usage(vector)
    others = _usage(total)
    return Inventory(
        nodes,
        Usage(
            max(others.cpu_millis - held.cpu_millis, 0),
            max(others.memory_mib - held.memory_mib, 0),
            max(others.gpus - held.gpus, 0),
            max(others.pods - held.pods, 0),
        ),
    )


def _discount(cluster: Cluster) -> Discount:
    return cluster.cloud_account.discount if cluster.cloud_account else Discount()


def supported_kinds(cluster: Cluster) -> frozenset[WorkloadKind]:
    """Kinds our credentials may create there (all, until the first health probe says otherwise)."""
    permissions = cluster.permissions or {}
    if not permissions:
        return frozenset(WorkloadKind)
    return frozenset(kind for kind, label in _KIND_PERMISSIONS.items() if permissions.get(label, True))


def _observe_free(inventory: Inventory, ours: Usage) -> tuple[Resources, int]:
    usable = [node for node in inventory.nodes if node.schedulable]
    used = inventory.others + ours
    cpu = sum(node.cpu_millis for node in usable) - used.cpu_millis
    memory = sum(node.memory_mib for node in usable) - used.memory_mib
    gpus = sum(node.gpus for node in usable) - used.gpus
    pods = sum(node.pods for node in usable) - used.pods
    return Resources(max(cpu, 0), max(memory, 0), max(gpus, 0)), max(pods, 0)


def _nodeless_free(cluster: Cluster, inventory: Inventory | None, ours: Usage) -> Resources:
    limit = provisioning_policy_in_force(cluster).settings.get("max_vcpu_total")
    if limit is None:
        return Resources(UNLIMITED, UNLIMITED, UNLIMITED)
    used = (inventory.others if inventory else Usage()) + ours
    return Resources(max(int(limit) * 1000 - used.cpu_millis, 0), UNLIMITED, UNLIMITED)


def cluster_snapshot(cluster: Cluster, inventory: Inventory | None, ours: Usage) -> ClusterSnapshot:
    """The engine's view of ``cluster``; ``inventory`` None means it could not be reached."""
    labels = federation_labels(cluster)
    reachable = inventory is not None
    if cluster.is_nodeless:
        settings = provisioning_policy_in_force(cluster).settings
        return ClusterSnapshot(
            id=str(cluster.pk),
            name=cluster.name,
            mode=ClusterMode.NODELESS,
            free=_nodeless_free(cluster, inventory, ours) if reachable else Resources(),
            pricing=nodeless_pricing(cluster.region, _discount(cluster), settings_key(settings)),
            labels=labels,
            reachable=reachable,
            supported_kinds=supported_kinds(cluster),
        )
    cloud = labels.get("cloud", "aws" if cluster.cloud_account_id else "")
    discount = 1.0 - _discount(cluster).on_demand_pct / 100
    nodes = inventory.nodes if inventory else ()
    free, pods = _observe_free(inventory, ours) if inventory else (Resources(), 0)
    return ClusterSnapshot(
        id=str(cluster.pk),
        name=cluster.name,
        mode=ClusterMode.OBSERVE,
        free=free,
        pricing=observe_pricing(nodes, cloud=cloud, region=labels.get("region", ""), discount=discount),
        labels=labels,
        reachable=reachable,
        free_pods=pods,
        supported_kinds=supported_kinds(cluster),
    )


def fleet_snapshots(
    clusters: Sequence[Cluster], inventories: Mapping[str, Inventory | None], usage: Mapping[str, Usage]
) -> list[ClusterSnapshot]:
    """Snapshots of every member, keyed by cluster id in ``inventories`` and ``usage``."""
    return [
        cluster_snapshot(cluster, inventories.get(str(cluster.pk)), usage.get(str(cluster.pk), Usage()))
        for cluster in clusters
    ]
