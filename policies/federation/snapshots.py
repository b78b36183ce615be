"""Member clusters as the federation engine sees them: frozen ``ClusterSnapshot``s built from the
Cluster rows and what the federation loop just observed in each cluster.

Free capacity (``ClusterSnapshot.free``, what new replicas may use):
- observe clusters: allocatable of the Ready, schedulable, untainted nodes, minus what the other
  pods request, minus what our placements there hold (counted from the placements, not from
  pods, so replicas applied but not yet created are not counted as free: Karmada #6518), plus
  what the cluster's own autoscaler can still add (Cluster Autoscaler node-group maximums,
  Karpenter NodePool limits: ``policies.federation.headroom``); an autoscaler without limits
  makes the cluster elastic, as a nodeless one;
- nodeless clusters: a priced, bounded room (``nodeless_room``): the free room of the nodes it
  has, plus what the provisioning policy's limits still allow it to launch — the nodes left
  under ``max_nodes`` (each at most the largest shape it may launch), the vCPUs left under
  ``max_vcpu_total``, and what the $/hour left under ``max_cost_per_hour`` buys at the cheapest
  shape's price per vCPU and per GiB. A resource no limit bounds is ``UNLIMITED``; the engine
  never shows or weighs that: it bounds a nodeless cluster's room for a workload by the
  workload's replica count (``engines.federation.candidates``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clusters.models import Cluster, ClusterObservation
from engines.federation import ClusterMode, ClusterSnapshot, NodelessPricing, Resources, WorkloadKind
from engines.planner import Discount
from policies.federation.headroom import NO_HEADROOM, Headroom
from policies.federation.pricing import NodeInfo, nodeless_pricing, observe_pricing, settings_key
from policies.federation.spec import federation_labels
from policies.selectors import provisioning_policy_in_force

UNLIMITED = 1 << 40  # a resource no limit of the provisioning policy bounds
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
    """A member cluster's nodes, what the pods that are not ours request, and what its own
    autoscaler can still add (observe clusters; ``policies.federation.headroom``)."""

    nodes: tuple[NodeInfo, ...]
    others: Usage
    headroom: Headroom = NO_HEADROOM


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


def _observe_free(inventory: Inventory, ours: Usage) -> tuple[Resources, int | None]:
    usable = [node for node in inventory.nodes if node.schedulable]
    used = inventory.others + ours
    extra = inventory.headroom
    cpu = sum(node.cpu_millis for node in usable) - used.cpu_millis
    memory = sum(node.memory_mib for node in usable) - used.memory_mib
    gpus = sum(node.gpus for node in usable) - used.gpus
    pods = sum(node.pods for node in usable) - used.pods
    if extra.elastic:
        # Nodes come for what is placed: the engine bounds the room by each workload's replicas.
        return Resources(UNLIMITED, UNLIMITED, max(gpus, 0) + extra.gpus), None
    free = Resources(
        max(cpu, 0) + extra.cpu_millis, max(memory, 0) + extra.memory_mib, max(gpus, 0) + extra.gpus
    )
    return free, None if extra.pods is None else max(pods, 0) + extra.pods


@dataclass(frozen=True)
class NodelessRoom:
    """What a nodeless cluster can still run: resources and pod slots (see the module docstring)."""

    free: Resources
    pods: int


def nodeless_room(
    settings: Mapping[str, Any], pricing: NodelessPricing, inventory: Inventory | None, ours: Usage
) -> NodelessRoom:
    """The room of a nodeless cluster under its provisioning policy ``settings``: the free room of
    its nodes plus what it may still launch, each resource the least that a limit allows."""
    inventory = inventory or Inventory((), Usage())
    existing, existing_pods = _observe_free(inventory, ours)
    existing_pods = existing_pods or 0
    shapes = pricing.shapes
    cpu = memory = gpus = pods = UNLIMITED
    if settings.get("max_nodes") is not None:
        nodes_left = max(int(settings["max_nodes"]) - len(inventory.nodes), 0)
        cpu = nodes_left * max(shape.allocatable.cpu_millicores for shape in shapes)
        memory = nodes_left * max(shape.allocatable.memory_mib for shape in shapes)
        gpus = nodes_left * max(shape.allocatable.gpu for shape in shapes)
        pods = nodes_left * max(shape.max_pods for shape in shapes)
    if settings.get("max_vcpu_total") is not None:
        # The limit counts the nodes it has (or, before they exist, what waits for them).
        launched = max(sum(node.cpu_millis for node in inventory.nodes), (inventory.others + ours).cpu_millis)
        cpu = min(cpu, max(int(settings["max_vcpu_total"]) * 1000 - launched, 0))
    if settings.get("max_cost_per_hour") is not None:
        prices = {shape.name: shape.hourly_price for shape in shapes}
        spent = sum(prices.get(node.instance_type, 0.0) for node in inventory.nodes)
        left = max(float(settings["max_cost_per_hour"]) - spent, 0.0)
        cpu = min(cpu, _affordable(left, shapes, lambda shape: shape.allocatable.cpu_millicores))
        memory = min(memory, _affordable(left, shapes, lambda shape: shape.allocatable.memory_mib))
        gpus = min(gpus, _affordable(left, shapes, lambda shape: shape.allocatable.gpu))
    free = Resources(
        min(existing.cpu_millicores + cpu, UNLIMITED),
        min(existing.memory_mib + memory, UNLIMITED),
        min(existing.gpu + gpus, UNLIMITED),
    )
    return NodelessRoom(free, min(existing_pods + pods, UNLIMITED))


def _affordable(dollars_per_hour: float, shapes: Sequence[Any], amount: Any) -> int:
    """How much of a resource ``dollars_per_hour`` buys at the shape cheapest per unit of it."""
    rates = [shape.hourly_price / amount(shape) for shape in shapes if amount(shape) > 0]
    if not rates:
        return 0
    cheapest = min(rates)
    return min(int(dollars_per_hour / cheapest), UNLIMITED) if cheapest > 0 else UNLIMITED


def cluster_snapshot(cluster: Cluster, inventory: Inventory | None, ours: Usage) -> ClusterSnapshot:
    """The engine's view of ``cluster``; ``inventory`` None means it could not be reached."""
    labels = federation_labels(cluster)
    reachable = inventory is not None
    if cluster.is_nodeless:
        settings = provisioning_policy_in_force(cluster).settings
        pricing = nodeless_pricing(cluster.region, _discount(cluster), settings_key(settings))
        room = (
            nodeless_room(settings, pricing, inventory, ours) if reachable else NodelessRoom(Resources(), 0)
        )
        return ClusterSnapshot(
            id=str(cluster.pk),
            name=cluster.name,
            mode=ClusterMode.NODELESS,
            free=room.free,
            pricing=pricing,
            labels=labels,
            reachable=reachable,
            free_pods=room.pods,
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
        elastic=bool(inventory and inventory.headroom.elastic),
    )


def fleet_snapshots(
    clusters: Sequence[Cluster], inventories: Mapping[str, Inventory | None], usage: Mapping[str, Usage]
) -> list[ClusterSnapshot]:
    """Snapshots of every member, keyed by cluster id in ``inventories`` and ``usage``."""
    return [
        cluster_snapshot(cluster, inventories.get(str(cluster.pk)), usage.get(str(cluster.pk), Usage()))
        for cluster in clusters
    ]
