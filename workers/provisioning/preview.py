"""Policy preview: what a draft provisioning policy would do to a cluster right now, next to what the
saved policy does — nodes, $/hour, pods left pending — before anything is saved. Read-only."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from clusters.kube.access import ClusterCredentialsError, cluster_api_client
from clusters.models import Cluster
from engines.planner import CapacityType as PlannerCapacity
from engines.planner import ExistingNode, Plan, PlannerPolicy, Snapshot, plan
from policies.provisioning_settings import planner_policy
from workers.provisioning.context import catalog_for
from workers.provisioning.kube import KubeOps
from workers.provisioning.observe import cluster_view, is_daemonset_pod, pod_request, taint

MAX_PODS = 2000


@dataclass(frozen=True)
class NodeGroup:
    instance_type: str
    capacity_type: str
    count: int
    price_per_hour: float


@dataclass(frozen=True)
class Outcome:
    nodes: list[NodeGroup]
    cost_per_hour: float
    billed_cost_per_hour: float
    placed_on_existing: int
    pending: list[tuple[str, str]]  # (pod, reason), first few

    @property
    def node_count(self) -> int:
        return sum(group.count for group in self.nodes)


@dataclass(frozen=True)
class ClusterPreview:
    cluster: Cluster
    subject: str
    saved: Outcome | None
    draft: Outcome | None
    error: str = ""

    @property
    def delta_per_hour(self) -> float | None:
        if self.saved is None or self.draft is None:
            return None
        return self.draft.billed_cost_per_hour - self.saved.billed_cost_per_hour


def _outcome(result: Plan, names: dict[str, str]) -> Outcome:
    groups: Counter[tuple[str, str, float]] = Counter()
    for launch in result.launches:
        chosen = launch.chosen
        groups[(chosen.instance_type, chosen.capacity_type.value, round(chosen.price_per_hour, 4))] += 1
    return Outcome(
        nodes=[NodeGroup(t, c, n, p) for (t, c, p), n in sorted(groups.items(), key=lambda kv: -kv[1])],
        cost_per_hour=result.cost_per_hour,
        billed_cost_per_hour=result.billed_cost_per_hour,
        placed_on_existing=len(result.bindings),
        pending=[(names.get(u.pod_uid, u.pod_uid), u.reason) for u in result.unschedulable[:5]],
    )


def preview(cluster: Cluster, saved: dict[str, Any], draft: dict[str, Any]) -> ClusterPreview:
    """Pending pods, planned against the cluster's managed nodes' free room; with no pending pods, the
    pods on managed nodes re-planned from scratch (what the draft would build for today's load)."""
    try:
        with cluster_api_client(cluster) as api_client:
            ops = KubeOps(api_client)
            view = cluster_view(ops.pods(), ops.nodes(), timezone.now())
    except (ClusterCredentialsError, OSError, ValueError) as error:
        return ClusterPreview(cluster, "", None, None, f"cannot read the cluster now: {error}")
    except Exception as error:  # the API answered with an error: say so rather than fail the form
        return ClusterPreview(
            cluster, "", None, None, f"cannot read the cluster now: {getattr(error, 'reason', error)}"
        )
    pending = [pod for pod in view.pending if not is_daemonset_pod(pod)][:MAX_PODS]
    existing: list[ExistingNode] = []
    if pending:
        pods, subject = pending, f"the {len(pending)} pending pod(s)"
        for node in view.managed_nodes():
            if node.ready and not node.unschedulable:
                existing.append(
                    ExistingNode(
                        name=node.name,
                        instance_type=node.labels.get("node.kubernetes.io/instance-type", ""),
                        zone=node.labels.get("topology.kubernetes.io/zone", ""),
                        capacity_type=PlannerCapacity.of_node(node.labels) or PlannerCapacity.ON_DEMAND,
                        price_per_hour=0.0,
                        free=(node.allocatable - node.requested()).clamped(),
                        labels=node.labels,
                        taints=tuple(taint(t) for t in node.taints),
                    )
                )
    else:
        pods = [pod for node in view.managed_nodes() for pod in node.workload_pods][:MAX_PODS]
        subject = f"the {len(pods)} pod(s) running on nodes Nodeless manages, re-planned from scratch"
    if not pods:
        return ClusterPreview(cluster, "no pods to plan right now", None, None)
    requests = [pod_request(pod) for pod in pods]
    names = {r.uid: f"{r.namespace}/{r.name}" for r in requests}
    catalog = catalog_for(cluster, timezone.now().timestamp())
    snapshot = Snapshot(
        pods=tuple(requests),
        existing_nodes=tuple(existing),
        daemonset_overhead=view.daemonset_overhead,
        region=cluster.region or catalog.region,
    )

    def run(policy: PlannerPolicy) -> Outcome:
        return _outcome(plan(snapshot, policy, catalog), names)

    return ClusterPreview(cluster, subject, run(planner_policy(saved)), run(planner_policy(draft)))
