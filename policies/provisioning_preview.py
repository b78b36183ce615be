"""Policy preview: what a draft provisioning policy would do to a cluster, next to what the saved policy
does — nodes, $/hour, pods left pending — before anything is saved. Read-only, and read from the
cluster's latest observation (`ClusterObservation`), which it says the age of: the form is validated
on every change, and a web request never calls a customer's cluster.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from clusters.models import Cluster, ClusterObservation
from clusters.observation.summary import expand_pods, resources_from
from clusters.pricing.catalogs import priced_catalog
from engines.kube.capacity import CapacityType
from engines.kube.nodes import taint_of
from engines.kube.quantity import QuantityError
from engines.planner import ExistingNode, Plan, PlannerPolicy, Snapshot, plan
from engines.planner.catalog import Discount
from engines.planner.requests import pod_request
from policies.provisioning_settings import planner_policy

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
    pending_count: int = 0
    served: frozenset[str] = frozenset()  # uids of the pods it places (new or existing nodes)

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
    observed_at: datetime | None = None  # the observation the preview planned on

    # Both policies on only the pods both serve, when either leaves some pending: a saving is stated
    # only for pods the draft actually serves, never for pods it leaves waiting.
    compared: bool = False
    compared_pods: int = 0
    saved_on_compared: Outcome | None = None
    draft_on_compared: Outcome | None = None

    @property
    def delta_per_hour(self) -> float | None:
        """The draft's $/h minus the saved policy's, for the same pods (None: no pod both serve)."""
        if self.saved is None or self.draft is None:
            return None
        if self.compared:
            if self.saved_on_compared is None or self.draft_on_compared is None:
                return None  # no pod both serve: no saving to state
            return self.draft_on_compared.billed_cost_per_hour - self.saved_on_compared.billed_cost_per_hour
        return self.draft.billed_cost_per_hour - self.saved.billed_cost_per_hour

    @property
    def saving_per_hour(self) -> float | None:
        """What the draft saves a hour for the pods compared (the delta, negated)."""
        delta = self.delta_per_hour
        return None if delta is None else -delta

    @property
    def same_pods(self) -> bool:
        """Both policies serve every pod: the totals compare directly."""
        return not self.compared


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
        pending_count=len({u.pod_uid for u in result.unschedulable}),
        served=frozenset(
            [
                *(uid for launch in result.launches for uid in launch.pod_uids),
                *(b.pod_uid for b in result.bindings),
            ]
        ),
    )


def _existing_nodes(summary: dict[str, Any]) -> list[ExistingNode]:
    return [
        ExistingNode(
            name=entry["name"],
            instance_type=entry["instance_type"],
            zone=entry["zone"],
            capacity_type=CapacityType(entry["capacity_type"] or CapacityType.ON_DEMAND),
            price_per_hour=0.0,
            free=resources_from(entry["free"]),
            labels=entry["labels"],
            taints=tuple(taint_of(raw) for raw in entry["taints"]),
        )
        for entry in summary.get("managed_free") or ()
    ]


def preview(
    cluster: Cluster, observation: ClusterObservation | None, saved: dict[str, Any], draft: dict[str, Any]
) -> ClusterPreview:
    """Pending pods, planned against the cluster's managed nodes' free room; with no pending pods, the
    pods on managed nodes re-planned from scratch (what the draft would build for today's load)."""
    if observation is None or observation.observed_at is None:
        return ClusterPreview(
            cluster,
            "",
            None,
            None,
            "not observed yet: the preview appears once Nodeless has read the cluster",
        )
    summary = observation.summary or {}
    existing: list[ExistingNode] = []
    if summary.get("pending"):
        pods = list(expand_pods(summary["pending"]))[:MAX_PODS]
        subject = f"the {len(pods)} pending pod(s)"
        existing = _existing_nodes(summary)
    else:
        pods = list(expand_pods(summary.get("managed_pods") or ()))[:MAX_PODS]
        subject = f"the {len(pods)} pod(s) running on nodes Nodeless manages, re-planned from scratch"
    if not pods:
        return ClusterPreview(
            cluster, "no pods to plan right now", None, None, observed_at=observation.observed_at
        )
    try:
        requests = [pod_request(pod) for pod in pods]
    except QuantityError as error:
        return ClusterPreview(cluster, subject, None, None, f"a pod cannot be read: {error}")
    names = {r.uid: f"{r.namespace}/{r.name}" for r in requests}
    account = cluster.cloud_account
    catalog = priced_catalog(cluster.region, account.discount if account else Discount())
    snapshot = Snapshot(
        pods=tuple(requests),
        existing_nodes=tuple(existing),
        daemonset_overhead=resources_from(summary.get("daemonset_overhead") or (0, 0, 0, 0, 0)),
        region=cluster.region or catalog.region,
    )

    def run(policy: PlannerPolicy, on: Snapshot = snapshot) -> Outcome:
        return _outcome(plan(on, policy, catalog), names)

    saved_policy, draft_policy = planner_policy(saved), planner_policy(draft)
    saved_outcome, draft_outcome = run(saved_policy), run(draft_policy)
    if not saved_outcome.pending_count and not draft_outcome.pending_count:
        return ClusterPreview(
            cluster, subject, saved_outcome, draft_outcome, observed_at=observation.observed_at
        )
    both = saved_outcome.served & draft_outcome.served
    common = replace(snapshot, pods=tuple(r for r in requests if r.uid in both))
    return ClusterPreview(
        cluster,
        subject,
        saved_outcome,
        draft_outcome,
        observed_at=observation.observed_at,
        compared=True,
        compared_pods=len(both),
        saved_on_compared=run(saved_policy, common) if both else None,
        draft_on_compared=run(draft_policy, common) if both else None,
    )
