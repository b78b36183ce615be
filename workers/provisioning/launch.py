"""The launch decision: the pending pods (and the pods of interrupted nodes) planned onto the nodes
there are, the nodes in flight and new nodes. Pure: a function of `PassInputs` returning commands.

Like Karpenter's provisioner (`Schedule` over a snapshot, then `Create`), it only decides: the ledger
records the launches and executors make the cloud calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engines.kube import Pod, Resources
from engines.kube.cluster import NewNode
from engines.kube.labels import COMPUTE_TYPE, HOSTNAME, OS, REGION, ZONE, canonical_key
from engines.kube.predicate import BindCheck
from engines.kube.volumes import NEW_NODE_ATTACH_LIMIT
from engines.planner import CapacityType, ExistingNode, Launch, PodRequest, Snapshot, plan
from engines.planner.table import VARYING_LABELS, type_labels
from workers.provisioning.bind import checked
from workers.provisioning.commands import BindPod, JoinNode, LaunchNode, LeavePending, PlanQuality
from workers.provisioning.inputs import PassInputs, is_managed
from workers.provisioning.pods import INITIALIZING_TAINT, Unplannable, is_ours, plan_request
from workers.provisioning.records import Lifecycle, NodeRecord, PlannedPod
from workers.provisioning.topology import cluster_topology

# How the planner names a node that is not Ready yet (it has no node name).
IN_FLIGHT_PREFIX = "managed:"


@dataclass(frozen=True)
class LaunchPlan:
    launches: tuple[LaunchNode, ...] = ()
    joins: tuple[JoinNode, ...] = ()
    binds: tuple[BindPod, ...] = ()
    pending: tuple[LeavePending, ...] = ()
    serverless: tuple[Pod, ...] = ()  # pods the planner put on serverless capacity (`serverless.py`)


# The records whose planned pods are still bound to their node once it is Ready (`bind.plan_binds`).
_BINDING_STATES = frozenset({Lifecycle.LAUNCHING, Lifecycle.PENDING, Lifecycle.READY})


def vacant_slots(inputs: PassInputs) -> dict[str, int]:
    """By controller uid: how many pods planned onto nodes still to bind them are gone (no longer
    listed, terminating or finished). Their controller replaces each such pod with a new one, which
    `bind.plan_binds` binds in the old one's slot: an interrupted node's evicted pod, a consolidated
    node's."""
    alive = {
        pod.uid
        for pod in (*inputs.state.pending, *inputs.state.bound_pods)
        if not pod.is_terminating and not pod.is_finished
    }
    vacant: dict[str, int] = {}
    for record in inputs.active():
        if record.state not in _BINDING_STATES:
            continue
        for planned in record.planned_pods:
            if planned.owner and planned.uid not in alive:
                vacant[planned.owner] = vacant.get(planned.owner, 0) + 1
    return vacant


def pods_to_plan(inputs: PassInputs, binding: frozenset[str]) -> list[Pod]:
    """Pending pods of ours (`pods.is_ours`: never another scheduler's, nor one the policy leaves
    alone) not planned yet and not being bound by this pass. Pods the default scheduler can still
    place on nodes Nodeless does not manage are left to it, and a pod that takes a vacant slot of
    its controller (`vacant_slots`, one pod each) waits for that slot's node: planning it again
    would launch a node for a pod that has one coming."""
    planned = {pod.uid for record in inputs.active() for pod in record.planned_pods}
    # A Fargate node carries its one pod and nothing else: it is no room for the default scheduler.
    unmanaged_schedulable = any(
        node.node.ready
        and not node.node.unschedulable
        and not is_managed(node)
        and node.node.labels.get(COMPUTE_TYPE) != "fargate"
        for node in inputs.state.nodes.values()
    )
    vacant = vacant_slots(inputs)
    chosen = []
    for pod in inputs.state.pending:
        if pod.uid in planned or pod.uid in binding or not is_ours(pod, inputs.policy):
            continue
        if vacant.get(pod.controller_uid):
            vacant[pod.controller_uid] -= 1
            continue
        if pod.is_unschedulable or not unmanaged_schedulable:
            chosen.append(pod)
    return chosen


def _existing_node(
    inputs: PassInputs,
    record: NodeRecord,
    types: Mapping[str, Resources],
    overheads: Mapping[str, Resources],
    replacements: frozenset[str],
) -> ExistingNode | None:
    if record.state in (Lifecycle.DRAINING, Lifecycle.TERMINATING) or record.id in replacements:
        return None
    try:
        capacity = CapacityType(record.capacity_type)
    except ValueError:
        return None
    node = inputs.node_of(record)
    if record.state == Lifecycle.READY and node is not None:
        if node.node.unschedulable:
            return None
        free = (node.node.allocatable - node.requested() - record.planned_requests).clamped()
        name, labels, ready = node.name, {HOSTNAME: node.name, **node.node.labels}, True
        taints = tuple(taint for taint in node.node.taints if taint.key != INITIALIZING_TAINT)
    elif record.instance_type in types:
        allocatable = types[record.instance_type]
        overhead = overheads.get(record.instance_type, inputs.state.daemonset_overhead)
        free = (allocatable - overhead - record.planned_requests).clamped()
        name, ready, taints = f"{IN_FLIGHT_PREFIX}{record.id}", False, ()
        # What the node will carry that the planner's topology pass counts: its zone and its name.
        labels = {ZONE: record.zone, HOSTNAME: name} if record.zone else {HOSTNAME: name}
    else:
        return None
    reserved = None
    if record.reserved_for_pod:
        # Still listed so limits count it; a pod uid no pending pod has keeps everything off it.
        reserved = record.planned_pods[0].uid if record.planned_pods else f"held:{record.id}"
    return ExistingNode(
        name=name,
        instance_type=record.instance_type,
        zone=record.zone,
        capacity_type=capacity,
        price_per_hour=record.price_per_hour,
        free=free,
        labels=labels,
        taints=taints,
        reserved_for_pod=reserved,
        ready=ready,
    )


def existing_nodes(
    inputs: PassInputs, overheads: Mapping[str, Resources] | None = None
) -> list[ExistingNode]:
    """Our nodes as the planner sees them: Ready ones with their free room, in-flight ones with the
    room their instance type will have (less its DaemonSets: `overheads` by type, see
    `type_overheads`, else every DaemonSet's), less what is planned onto them."""
    types = {t.name: t.allocatable for t in inputs.catalog.instance_types}
    by_type, replacements = overheads or {}, inputs.replacements
    found = (_existing_node(inputs, record, types, by_type, replacements) for record in inputs.active())
    return [node for node in found if node is not None]


def attach_limits(inputs: PassInputs) -> dict[str, int]:
    """By instance type, how many EBS volumes a node of it attaches (its CSINode's count once it
    registers: `clusters.pricing`)."""
    return {t.name: t.ebs_attach_limit for t in inputs.catalog.instance_types if t.ebs_attach_limit}


def attach_room_with_planned(
    inputs: PassInputs, registered: Mapping[str, int], limits: Mapping[str, int]
) -> dict[str, int]:
    """By node name as the planner names it, how many more volumes each node can attach: a Ready
    node its CSINode's room (`registered`), an in-flight one its type's count - both less the
    volumes of the pods planned onto it and not bound yet."""
    room = dict(registered)
    for record in inputs.active():
        planned = sum(pod.volumes for pod in record.planned_pods)
        node = inputs.node_of(record)
        if record.state == Lifecycle.READY and node is not None:
            if node.name in room:
                room[node.name] = max(room[node.name] - planned, 0)
            continue
        limit = limits.get(record.instance_type, NEW_NODE_ATTACH_LIMIT)
        room[f"{IN_FLIGHT_PREFIX}{record.id}"] = max(limit - planned, 0)
    return room


def launch_node(
    launch: Launch,
    pods: Mapping[str, Pod],
    requests: Mapping[str, PodRequest],
    plan: PlanQuality | None = None,
) -> LaunchNode:
    reserved = ""
    if launch.reserved_for_pod:
        pod = pods.get(launch.reserved_for_pod)
        reserved = pod.key if pod else launch.reserved_for_pod
    planned = tuple(PlannedPod.of(pods[uid], requests[uid].requests) for uid in launch.pod_uids)
    return LaunchNode(launch, planned, reserved, plan)


def _new_node(inputs: PassInputs) -> NewNode:
    policy = inputs.policy
    labels = {canonical_key(k): v for k, v in policy.node_labels.items()}
    labels.update({REGION: inputs.cluster.region, OS: "linux"})
    return NewNode(labels, VARYING_LABELS, policy.node_taints)


def new_node_overhead(inputs: PassInputs) -> Resources:
    """What the DaemonSets that would place a pod on a new node of the policy request there (of any
    instance type: the most)."""
    return inputs.state.new_node_overhead(_new_node(inputs))


def type_overheads(inputs: PassInputs) -> dict[str, Resources]:
    """By instance type, what the DaemonSets request on a new node of it, where that is less than
    `new_node_overhead` (a DaemonSet only for arm64 or GPU nodes costs nothing on other types)."""
    variants = {t.name: type_labels(t) for t in inputs.catalog.instance_types}
    return inputs.state.overhead_by_variant(_new_node(inputs), variants)


def plannable(
    pods: Sequence[Pod], volume_zones: Mapping[str, frozenset[str] | None] | None = None
) -> tuple[dict[str, Pod], dict[str, PodRequest], list[LeavePending]]:
    """The pods the planner can take, by uid, with their requests (and the zones their volumes
    allow, by pod uid); the others stay pending."""
    zones = volume_zones or {}
    by_uid: dict[str, Pod] = {}
    requests: dict[str, PodRequest] = {}
    refused = []
    for pod in pods:
        try:
            request = plan_request(pod, zones.get(pod.uid))
        except Unplannable as error:
            refused.append(LeavePending(pod.key, str(error), remember=False))
            continue
        by_uid[request.uid], requests[request.uid] = pod, request
    return by_uid, requests, refused


def plan_launches(
    inputs: PassInputs,
    pods: Sequence[Pod],
    check: BindCheck | None = None,
    volume_zones: Mapping[str, frozenset[str] | None] | None = None,
    attach_room: Mapping[str, int] | None = None,
) -> LaunchPlan:
    """Plan `pods` (see `pods_to_plan`): binds to Ready nodes, pods joining nodes in flight, new nodes
    to launch, and the pods left pending with the reason. Each bind is first checked as
    kube-scheduler would check it (`check`: the pass's, counting the binds it already decided).
    `attach_room`: by Ready node name, how many more volumes its CSINode lets it attach (nodes in
    flight and new ones: their instance type's count, `attach_limits`)."""
    if not pods:
        return LaunchPlan()
    by_uid, requests, pending = plannable(pods, volume_zones)
    topology = cluster_topology(
        inputs, IN_FLIGHT_PREFIX, any(r.has_topology_rules for r in requests.values())
    )
    overheads = type_overheads(inputs)
    with_volumes = any(r.attachable_volumes for r in requests.values())
    limits = attach_limits(inputs) if with_volumes else {}
    room = attach_room_with_planned(inputs, attach_room or {}, limits) if with_volumes else {}
    snapshot = Snapshot(
        pods=tuple(requests.values()),
        existing_nodes=tuple(existing_nodes(inputs, overheads)),
        daemonset_overhead=new_node_overhead(inputs),
        type_daemonset_overhead=overheads,
        region=inputs.cluster.region,
        cluster_nodes=topology.nodes,
        placed=topology.placed,
        daemonset_host_ports=topology.daemonset_host_ports,
        attach_limit=NEW_NODE_ATTACH_LIMIT,
        attach_room=room,
        type_attach_limits=limits,
    )
    result = plan(snapshot, inputs.policy, inputs.catalog, thorough=False)
    in_flight = {f"{IN_FLIGHT_PREFIX}{record.id}": record.id for record in inputs.active()}
    joining: dict[str, list[PlannedPod]] = {}
    binds = []
    check = check or BindCheck(inputs.state)
    for bound in result.bindings:
        pod = by_uid[bound.pod_uid]
        if bound.node_name in in_flight:  # bound once the node is Ready
            planned = PlannedPod.of(pod, requests[bound.pod_uid].requests)
            joining.setdefault(in_flight[bound.node_name], []).append(planned)
            continue
        refusal, tolerations = checked(check, pod, inputs.state.nodes[bound.node_name].node)
        if refusal is None:
            binds.append(BindPod(pod.namespace, pod.name, bound.node_name, pod.uid, tolerations))
        else:
            pending.append(
                LeavePending(pod.key, f"not bound to {bound.node_name}: {refusal}", remember=False)
            )
    quality = PlanQuality(
        cost_per_hour=result.cost_per_hour,
        lower_bound_per_hour=result.lp_lower_bound,
        pods=len(requests),
        launches=len(result.launches),
    )
    launches, serverless = [], []
    for launch in result.launches:
        if launch.serverless:
            serverless += [by_uid[uid] for uid in launch.pod_uids]
        else:
            launches.append(launch_node(launch, by_uid, requests, plan=quality))
    pending += [LeavePending(by_uid[item.pod_uid].key, item.reason) for item in result.unschedulable]
    return LaunchPlan(
        launches=tuple(launches),
        joins=tuple(JoinNode(record_id, tuple(planned)) for record_id, planned in joining.items()),
        binds=tuple(binds),
        pending=tuple(pending),
        serverless=tuple(serverless),
    )
