"""The cluster as the planner's topology pass counts it (`engines.planner.topology`): every node as a
domain, the pods running on them and the pods planned onto nodes not bound yet, and the host ports
DaemonSets take on every node. Pure: a function of `PassInputs`.
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.kube import Pod
from engines.kube.affinity import HostPort
from engines.kube.labels import HOSTNAME, ZONE
from engines.planner.types import ClusterNode, PlacedPod
from workers.provisioning.inputs import PassInputs


@dataclass(frozen=True)
class Topology:
    nodes: tuple[ClusterNode, ...] = ()
    placed: tuple[PlacedPod, ...] = ()
    daemonset_host_ports: frozenset[HostPort] = frozenset()


def _placed(pod: Pod, node_name: str) -> PlacedPod:
    return PlacedPod(pod.namespace, dict(pod.labels), node_name, pod.pod_anti_affinity, pod.host_ports)


def cluster_topology(inputs: PassInputs, in_flight_prefix: str, rules_pending: bool) -> Topology:
    """Every pod counts when a pending pod has an inter-pod rule; otherwise only running pods with
    required anti-affinity matter (they keep pending pods away), so a cluster without such rules
    pays nothing here."""
    state = inputs.state
    nodes = [
        ClusterNode(node.name, {HOSTNAME: node.name, **node.node.labels}, node.node.taints)
        for node in state.nodes.values()
    ]
    placed: list[PlacedPod] = []
    ports: set[HostPort] = set()
    for node in state.nodes.values():
        for pod in node.pods:
            if pod.is_finished:
                continue
            if pod.is_daemonset:
                ports.update(pod.host_ports)
            if rules_pending or pod.pod_anti_affinity:
                placed.append(_placed(pod, node.name))
    pending = {pod.uid: pod for pod in state.pending}
    for record in inputs.active():
        name = record.node_name if record.node_name in state.nodes else f"{in_flight_prefix}{record.id}"
        if name not in state.nodes:
            labels = {HOSTNAME: name, **({ZONE: record.zone} if record.zone else {})}
            nodes.append(ClusterNode(name, labels))
        for entry in record.planned_pods:
            waiting = pending.get(entry.uid)
            if waiting is not None and (rules_pending or waiting.pod_anti_affinity):
                placed.append(_placed(waiting, name))
    return Topology(tuple(nodes), tuple(placed), frozenset(ports))
