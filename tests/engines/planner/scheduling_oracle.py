"""Pods as JSON, planned by the planner, then placed the way kube-scheduler would place them -
judged by the simulator's predicate (`simulator.controllers.scheduling.placement_reasons`), which
is written independently of the product: the oracle of the scheduling-rules tests.

`run(...)` plans the pods, turns every launch into a node (the labels a new node of that offering
carries, its hostname its id), then binds the planned pods in rounds - each pod only when the
oracle accepts its planned node given the pods bound so far, as kube-scheduler would retry a pod
until the node it needs is there - and returns the plan, the nodes and where each pod ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engines.kube import CapacityType, Node, Pod
from engines.kube import labels as wk
from engines.kube.affinity import HostPort
from engines.kube.volumes import attach_limit, attach_room, claim_zones, intersect
from engines.planner import Catalog, ExistingNode, Plan, PlannerPolicy, Resources, Snapshot, plan
from engines.planner.requests import pod_request
from engines.planner.types import ClusterNode, PlacedPod
from simulator.controllers.scheduling import placement_reasons
from simulator.controllers.volume_rules import VolumeWorld
from tests.engines.planner.planner_builders import offering_labels, tiny_catalog

Json = dict[str, Any]


def pod_json(
    name: str,
    *,
    cpu: str = "500m",
    memory: str = "512Mi",
    labels: Mapping[str, str] | None = None,
    namespace: str = "default",
    affinity: Json | None = None,
    spread: Sequence[Json] = (),
    host_ports: Sequence[int] = (),
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Json] = (),
    claims: Sequence[str] = (),
) -> Json:
    container: Json = {"name": "main", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
    if host_ports:
        container["ports"] = [{"containerPort": p, "hostPort": p} for p in host_ports]
    spec: Json = {"containers": [container]}
    if affinity:
        spec["affinity"] = affinity
    if spread:
        spec["topologySpreadConstraints"] = list(spread)
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        spec["tolerations"] = list(tolerations)
    if claims:
        spec["volumes"] = [
            {"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)
        ]
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "labels": dict(labels or {}),
        },
        "spec": spec,
        "status": {"phase": "Pending"},
    }


def anti_affinity(labels: Mapping[str, str], key: str) -> Json:
    term = {"labelSelector": {"matchLabels": dict(labels)}, "topologyKey": key}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def affinity(labels: Mapping[str, str], key: str) -> Json:
    term = {"labelSelector": {"matchLabels": dict(labels)}, "topologyKey": key}
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def spread(labels: Mapping[str, str], key: str, max_skew: int = 1, **extra: Any) -> Json:
    return {
        "maxSkew": max_skew,
        "topologyKey": key,
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": dict(labels)},
        **extra,
    }


def node_json(
    name: str, labels: Mapping[str, str], cpu: int = 64, memory_gib: int = 256, taints: Sequence[Json] = ()
) -> Json:
    return {
        "metadata": {"name": name, "labels": {wk.HOSTNAME: name, **labels}},
        "spec": {"taints": list(taints)},
        "status": {
            "allocatable": {"cpu": str(cpu), "memory": f"{memory_gib}Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def _free(node: Json, running: Sequence[Json]) -> Resources:
    used = Resources()
    for pod in running:
        if pod["spec"].get("nodeName") == node["metadata"]["name"]:
            used = used + Pod(pod).requests
    return (Node(node).allocatable - used).clamped()


@dataclass(frozen=True)
class Storage:
    """The cluster's storage objects as JSON (claims in `default`), read by the product the way its
    kube port reads them, and by the oracle's volume filters. New nodes get a CSINode reporting
    their instance type's count in `type_limits`, else `new_node_limit` EBS volumes, as the driver's
    node plugin would register."""

    claims: Sequence[Json] = ()
    volumes: Sequence[Json] = ()
    classes: Sequence[Json] = ()
    csi_nodes: Sequence[Json] = ()
    new_node_limit: int | None = None
    type_limits: Mapping[str, int] = field(default_factory=dict)

    def zones(self, pod: Json) -> frozenset[str] | None:
        by_name = {c["metadata"]["name"]: c for c in self.claims}
        found = []
        for name in Pod(pod).claim_names:
            claim = by_name.get(name)
            if claim is None:
                continue
            spec = claim.get("spec") or {}
            volume = next((v for v in self.volumes if v["metadata"]["name"] == spec.get("volumeName")), None)
            storage_class = next(
                (c for c in self.classes if c["metadata"]["name"] == spec.get("storageClassName")), None
            )
            found.append(claim_zones(claim, volume, storage_class))
        return intersect(found)

    def room(self, node_name: str, running: Sequence[Json]) -> int | None:
        csi = next((c for c in self.csi_nodes if c["metadata"]["name"] == node_name), None)
        on_node = [n for p in running if p["spec"].get("nodeName") == node_name for n in Pod(p).claim_names]
        return attach_room(attach_limit(csi), on_node)

    def world(self, nodes: Sequence[Json]) -> VolumeWorld:
        registered = {c["metadata"]["name"] for c in self.csi_nodes}
        made = [
            csi_node(
                n["metadata"]["name"],
                self.type_limits.get(n["metadata"]["labels"].get(wk.INSTANCE_TYPE, ""), self.new_node_limit),
            )
            for n in nodes
            if n["metadata"]["name"] not in registered and self.new_node_limit is not None
        ]
        claims = [{**c, "metadata": {"namespace": "default", **c["metadata"]}} for c in self.claims]
        return VolumeWorld.of(claims, self.volumes, self.classes, [*self.csi_nodes, *made])


def csi_node(name: str, count: int | None) -> Json:
    return {
        "metadata": {"name": name},
        "spec": {"drivers": [{"name": "ebs.csi.aws.com", "nodeID": name, "allocatable": {"count": count}}]},
    }


@dataclass
class Outcome:
    plan: Plan
    nodes: list[Json]
    bound: list[Json] = field(default_factory=list)
    # Planned pods the oracle never accepted on their planned node: pod name -> its reasons.
    refused: dict[str, list[str]] = field(default_factory=dict)

    def node_of(self, name: str) -> Json:
        pod = next(p for p in self.bound if p["metadata"]["name"] == name)
        return next(n for n in self.nodes if n["metadata"]["name"] == pod["spec"]["nodeName"])

    def zone_of(self, name: str) -> str:
        return str(self.node_of(name)["metadata"]["labels"][wk.ZONE])

    def unschedulable(self) -> dict[str, str]:
        return {u.pod_uid.removeprefix("uid-"): u.code.value for u in self.plan.unschedulable}


def run(
    pending: Sequence[Json],
    *,
    nodes: Sequence[Json] = (),
    running: Sequence[Json] = (),
    catalog: Catalog | None = None,
    policy: PlannerPolicy | None = None,
    volume_zones: Mapping[str, frozenset[str]] | None = None,
    daemonset_ports: Sequence[int] = (),
    storage: Storage | None = None,
) -> Outcome:
    """Plan `pending` on a cluster of `nodes` (all open to the planner, with room) running `running`
    (JSON with `spec.nodeName`), then bind as kube-scheduler would, judged by the oracle."""
    catalog = catalog or tiny_catalog(serverless=False)
    policy = policy or PlannerPolicy()
    volume_zones = volume_zones or {}
    if storage is not None:
        volume_zones = {p["metadata"]["name"]: z for p in pending if (z := storage.zones(p)) is not None}
    requests = [pod_request(Pod(p), volume_zones.get(p["metadata"]["name"])) for p in pending]
    placed = tuple(
        PlacedPod(view.namespace, dict(view.labels), view.node_name, view.pod_anti_affinity, view.host_ports)
        for view in (Pod(p) for p in running)
    )
    existing = tuple(
        ExistingNode(
            name=n["metadata"]["name"],
            instance_type="m5.large",
            zone=n["metadata"]["labels"].get(wk.ZONE, ""),
            capacity_type=CapacityType.ON_DEMAND,
            price_per_hour=0.1,
            free=_free(n, running),
            labels=dict(n["metadata"]["labels"]),
        )
        for n in nodes
    )
    snapshot = Snapshot(
        pods=tuple(requests),
        existing_nodes=existing,
        cluster_nodes=tuple(ClusterNode(n["metadata"]["name"], dict(n["metadata"]["labels"])) for n in nodes),
        placed=placed,
        daemonset_host_ports=frozenset(HostPort(p) for p in daemonset_ports),
        attach_limit=storage.new_node_limit if storage is not None else None,
        type_attach_limits=dict(storage.type_limits) if storage is not None else {},
        attach_room={
            n["metadata"]["name"]: room
            for n in nodes
            if storage is not None and (room := storage.room(n["metadata"]["name"], running)) is not None
        },
    )
    result = plan(snapshot, policy, catalog)
    outcome = Outcome(result, [*nodes])
    target: dict[str, str] = {b.pod_uid: b.node_name for b in result.bindings}
    for launch in result.launches:
        chosen = launch.chosen
        labels = offering_labels(
            catalog, policy, chosen.instance_type, chosen.zone, chosen.capacity_type.value
        )
        outcome.nodes.append(node_json(launch.node_id, labels))
        target.update({uid: launch.node_id for uid in launch.pod_uids})
    outcome.bound = [*running]
    waiting = [p for p in pending if p["metadata"]["uid"] in target]
    while waiting:
        progressed = False
        for pod in list(waiting):
            node = target[pod["metadata"]["uid"]]
            world = storage.world(outcome.nodes) if storage is not None else None
            reasons = placement_reasons(pod, node, outcome.nodes, outcome.bound, world)
            outcome.refused[pod["metadata"]["name"]] = reasons
            if not reasons:
                del outcome.refused[pod["metadata"]["name"]]
                outcome.bound.append({**pod, "spec": {**pod["spec"], "nodeName": node}})
                waiting.remove(pod)
                progressed = True
        if not progressed:
            break
    return outcome
