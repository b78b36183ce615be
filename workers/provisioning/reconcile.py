"""One reconcile pass of a nodeless cluster: observe → sync → bind → plan and launch → scale down.

1. Take the cluster's lease (one pass per cluster at a time, whatever the number of workers); a
   worker that dies keeps it only until it expires.
2. Observe: pods and nodes from the API server, our instances from the cloud, our rows.
3. Resume launches a crashed worker left half-done (same idempotency token: no second instance).
4. Sync rows with reality: instances that registered as Ready nodes, instances that are gone.
5. Spot interruption notices: cordon and drain the node, and plan its replacement at once.
6. Bind the pods planned onto nodes that became Ready (Binding API), then lift the initializing taint.
7. Plan the pending pods (existing and in-flight nodes first) and launch what the planner chose.
8. Scale down nodes empty for the policy's delay; consolidate an underutilized node whose pods fit
   elsewhere; drain what is draining; collect garbage (leaked instances, orphaned nodes).
Every step is idempotent and bounded: a crash anywhere is repaired by the next pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from clusters.cloud.interface import InstanceState
from clusters.models import ACTIVE_STATES, Cluster, ClusterMode, ManagedNode, NodeState
from engines.planner import CapacityType as PlannerCapacity
from engines.planner import ExistingNode, PodRequest, Resources, Snapshot, plan
from policies.models import DecisionKind
from workers.leases import HeldLease, release, try_acquire
from workers.provisioning.binding import BindSteps, pod_key
from workers.provisioning.context import ReconcileContext, build_context
from workers.provisioning.crash import crash_point
from workers.provisioning.decisions import record
from workers.provisioning.disruption import DisruptionSteps
from workers.provisioning.launching import (
    CLUSTER_TAG,
    INITIALIZING_TAINT,
    PARALLEL_CALLS,
    LaunchInputs,
    launch_rows,
    planned_entry,
    write_launch_rows,
)
from workers.provisioning.observe import (
    NODE_ID_LABEL,
    NodeView,
    cluster_view,
    controller_of,
    is_daemonset_pod,
    is_unschedulable,
    pod_request,
    taint,
)


def _lease_ttl() -> timedelta:
    # Long enough for a pass at 50,000 pods, short enough that a dead worker's cluster is not
    # orphaned for long (the crash tests shorten it).
    return timedelta(seconds=settings.NODELESS_LEASE_SECONDS)


# A launch handed to a worker is repeated by a reconcile pass only after this long without progress.
LAUNCH_HANDOFF_GRACE = timedelta(seconds=60)
# EC2 listings are eventually consistent: a just-launched instance may be missing for a while.
LIST_CONSISTENCY_GRACE = timedelta(minutes=2)


@dataclass
class ReconcileReport:
    cluster_id: str
    outcome: str  # "done", "busy" (another worker holds the lease), "skipped"
    launched: int = 0
    bound: int = 0
    terminated: int = 0
    pending: dict[str, str] = field(default_factory=dict)  # "namespace/name" → why it stays pending
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step, to see what a pass spent


LaunchDispatch = Callable[[list[str]], None]


def reconcile_cluster(
    cluster_id: str, *, lease_ttl: timedelta | None = None, dispatch: LaunchDispatch | None = None
) -> ReconcileReport:
    """One pass. With `dispatch`, launches are handed off by row id (the Celery task enqueues one
    launch task per row, like Karpenter's NodeClaim lifecycle controller) so the pass itself stays
    short; without it, they are made inline before the pass returns."""
    started = time.perf_counter()
    cluster = Cluster.objects.select_related("organization", "cloud_account").filter(pk=cluster_id).first()
    if cluster is None or cluster.mode != ClusterMode.NODELESS or cluster.cloud_account is None:
        return ReconcileReport(str(cluster_id), "skipped")
    lease = try_acquire(f"provisioning:{cluster.pk}", ttl=lease_ttl or _lease_ttl())
    if lease is None:
        return ReconcileReport(str(cluster_id), "busy")
    try:
        report = _Pass(build_context(cluster, timezone.now()), lease, dispatch).run()
    finally:
        release(lease)
    report.seconds = time.perf_counter() - started
    return report


class _Pass(BindSteps, DisruptionSteps):
    report: ReconcileReport

    def __init__(self, ctx: ReconcileContext, lease: HeldLease, dispatch: LaunchDispatch | None) -> None:
        self.ctx, self.lease, self.dispatch = ctx, lease, dispatch
        self.report = ReconcileReport(str(ctx.cluster.pk), "done")
        self.binding_uids: set[str] = set()  # pods with a bind call in this pass, whatever its outcome
        self._bound_rows: set[Any] = set()
        self.replacement_pods: list[dict[str, Any]] = []

    # --- the pass ----------------------------------------------------------------------------
    def run(self) -> ReconcileReport:
        ctx = self.ctx
        # The cloud reads (instances, interruption notices) run while the cluster is read: a pass
        # that answers pending pods within a second cannot wait for them one after the other.
        with ThreadPoolExecutor(max_workers=2) as cloud_reads:
            instances = cloud_reads.submit(self._list_instances_when_due)
            self.notices = cloud_reads.submit(ctx.provider.read_interruption_notices)
            with self._step("observe"):
                self.view = cluster_view(ctx.kube.pods(), ctx.kube.nodes(), ctx.now)
            with self._step("instances"):
                self.instances = instances.result()
        self.rows = list(ManagedNode.objects.filter(cluster=ctx.cluster, state__in=ACTIVE_STATES))
        with self._step("sync"):
            self._resume_launches()
            self._sync()
            self._interruptions()
        self.lease.renew()
        # Binds to newly Ready nodes are network calls answered by the API server, and planning is
        # this process's own work: they overlap, so a pod waiting for a launch does not also wait
        # for every bind of the pass.
        with ThreadPoolExecutor(max_workers=PARALLEL_CALLS) as binds:
            with self._step("bind"):
                in_flight = self._start_binds(binds)
            with self._step("plan_and_launch"):
                self._plan_and_launch()
            with self._step("bind_wait"):
                self._finish_binds(in_flight)
        self.lease.renew()
        with self._step("scale_down"):
            self._scale_down()
            self._consolidate()
            self._drain()
        with self._step("garbage"):
            self._collect_garbage()
        return self.report

    @contextmanager
    def _step(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.report.steps[name] = round(time.perf_counter() - began, 4)

    # --- helpers -----------------------------------------------------------------------------
    def _node_of(self, row: ManagedNode) -> NodeView | None:
        if row.node_name and row.node_name in self.view.nodes:
            return self.view.nodes[row.node_name]
        index = self.view.by_row_or_instance
        found = index.get(f"row:{row.pk}")
        if found is None and row.instance_id:
            found = index.get(f"instance:{row.instance_id}")
        return found

    def _active(self) -> list[ManagedNode]:
        return [row for row in self.rows if row.state in ACTIVE_STATES]

    def _set_state(self, row: ManagedNode, state: str, reason: str = "", **fields: Any) -> None:
        row.state = state
        if reason:
            row.reason = reason[:300]
        for name, value in fields.items():
            setattr(row, name, value)
        row.save(update_fields=["state", "reason", *fields])

    def _list_instances_when_due(self) -> dict[str, Any] | None:
        """Our instances, listed at most every NODELESS_INSTANCE_LIST_SECONDS per cluster: listing is the
        slowest read of a pass and only the checks for vanished or leaked instances need it, which can
        wait a few seconds; everything else follows the nodes."""
        key = f"provisioning:instances-listed:{self.ctx.cluster.pk}"
        interval = settings.NODELESS_INSTANCE_LIST_SECONDS
        if interval and cache.get(key):
            return None
        listed = {
            i.instance_id: i
            for i in self.ctx.provider.list_instances({CLUSTER_TAG: str(self.ctx.cluster.pk)})
        }
        if interval:
            cache.set(key, value=True, timeout=interval)
        return listed

    # --- 4. sync -------------------------------------------------------------------------------
    def _sync(self) -> None:
        for row in self._active():
            if row.state == NodeState.LAUNCHING or not row.instance_id:
                continue
            if self.instances is None:
                self._mark_ready(row)
                continue
            instance = self.instances.get(row.instance_id)
            if (
                instance is None
                and row.launched_at
                and self.ctx.now - row.launched_at < LIST_CONSISTENCY_GRACE
            ):
                continue  # launched moments ago (maybe in this pass): listings lag behind launches
            gone = instance is None or instance.state in (
                InstanceState.TERMINATED,
                InstanceState.SHUTTING_DOWN,
            )
            node = self._node_of(row)
            if gone:
                if node is not None:
                    self.ctx.kube.delete_node(node.name)
                was = row.state
                self._set_state(
                    row,
                    NodeState.TERMINATED,
                    "" if was == NodeState.TERMINATING else "instance is gone",
                    terminated_at=self.ctx.now,
                )
                if was != NodeState.TERMINATING:
                    record(
                        self.ctx.cluster,
                        DecisionKind.GARBAGE,
                        f"{row} was {was} but its instance {row.instance_id} is gone (reclaimed or terminated "
                        "outside Nodeless); forgot it",
                        node=row,
                        subject=str(row),
                        policy_version=self.ctx.policy_version,
                    )
                continue
            self._mark_ready(row, node)

    def _mark_ready(self, row: ManagedNode, node: NodeView | None = None) -> None:
        node = node or self._node_of(row)
        if row.state == NodeState.PENDING and node is not None and node.ready:
            allocatable = node.allocatable
            self._set_state(
                row,
                NodeState.READY,
                node_name=node.name,
                ready_at=self.ctx.now,
                allocatable={
                    "cpu": allocatable.cpu_millis,
                    "memory": allocatable.memory_mib,
                    "gpu": allocatable.gpus,
                    "pods": allocatable.pods,
                },
            )

    # --- 7. plan and launch ----------------------------------------------------------------------
    def _pods_to_plan(self) -> list[dict[str, Any]]:
        planned = {entry["uid"] for row in self._active() for entry in row.planned_pods}
        unmanaged_schedulable = any(
            node.ready and not node.unschedulable and NODE_ID_LABEL not in node.labels
            for node in self.view.nodes.values()
        )
        pods = []
        for pod in self.view.pending:
            uid = pod["metadata"]["uid"]
            if uid in planned or uid in self.binding_uids or is_daemonset_pod(pod):
                continue
            # Leave pods the default scheduler can still place on nodes we do not manage.
            if unmanaged_schedulable and not is_unschedulable(pod):
                continue
            pods.append(pod)
        return pods + self.replacement_pods

    def _existing_nodes(self) -> list[ExistingNode]:
        types = {t.name: t for t in self.ctx.catalog.instance_types}
        nodes = []
        for row in self._active():
            if row.state in (NodeState.DRAINING, NodeState.TERMINATING) or row.replaces_id:
                continue
            planned = Resources()
            for entry in row.planned_pods:
                planned = planned + Resources(entry["cpu"], entry["memory"], entry["gpu"], 0, 1)
            node = self._node_of(row)
            try:
                capacity = PlannerCapacity(row.capacity_type)
            except ValueError:
                continue
            if row.state == NodeState.READY and node is not None:
                if node.unschedulable:
                    continue
                free = (node.allocatable - node.requested() - planned).clamped()
                name, labels, ready = node.name, node.labels, True
                taints = tuple(taint(t) for t in node.taints if t.get("key") != INITIALIZING_TAINT)
            elif row.instance_type in types:
                free = (
                    types[row.instance_type].allocatable - self.view.daemonset_overhead - planned
                ).clamped()
                name, labels, ready, taints = f"managed:{row.pk}", {}, False, ()
            else:
                continue
            reserved = None
            if row.reserved_for_pod:
                # Still listed so limits count it; a pod uid no pending pod has keeps everything off it.
                reserved = row.planned_pods[0]["uid"] if row.planned_pods else f"held:{row.pk}"
            nodes.append(
                ExistingNode(
                    name=name,
                    instance_type=row.instance_type,
                    zone=row.zone,
                    capacity_type=capacity,
                    price_per_hour=float(row.price_per_hour),
                    free=free,
                    labels=labels,
                    taints=taints,
                    reserved_for_pod=reserved,
                    ready=ready,
                )
            )
        return nodes

    def _plan_and_launch(self) -> None:
        pods = self._pods_to_plan()
        if not pods:
            return
        requests: dict[str, PodRequest] = {}
        raw = {}
        for pod in pods:
            try:
                request = pod_request(pod)
            except (KeyError, ValueError) as error:
                self.report.pending[pod_key(pod)] = f"cannot read its requests: {error}"
                continue
            requests[request.uid], raw[request.uid] = request, pod
        snapshot = Snapshot(
            pods=tuple(requests.values()),
            existing_nodes=tuple(self._existing_nodes()),
            daemonset_overhead=self.view.daemonset_overhead,
            region=self.ctx.cluster.region,
        )
        with self._step("planner"):
            result = plan(snapshot, self.ctx.policy, self.ctx.catalog, thorough=False)
        rows = {f"managed:{row.pk}": row for row in self._active()}
        direct = []
        joining: dict[str, list[dict[str, Any]]] = {}
        for binding in result.bindings:
            pod = raw[binding.pod_uid]
            if binding.node_name in rows:  # an in-flight node: bind once it is Ready
                entry = planned_entry(
                    pod, binding.pod_uid, requests[binding.pod_uid].requests, controller_of(pod)
                )
                joining.setdefault(binding.node_name, []).append(entry)
            else:
                direct.append(
                    (
                        self.ctx.kube.bind,
                        (pod["metadata"]["namespace"], pod["metadata"]["name"], binding.node_name),
                    )
                )
        for node_name, entries in joining.items():
            row = rows[node_name]
            row.planned_pods = [*row.planned_pods, *entries]
            row.save(update_fields=["planned_pods"])
        self.report.bound += sum(1 for done in self._parallel(direct) if done)
        inputs = LaunchInputs(
            pods_by_uid=raw,
            requests_by_uid={uid: request.requests for uid, request in requests.items()},
            owners={uid: controller_of(pod) for uid, pod in raw.items()},
        )
        for launch in result.launches:
            if launch.serverless:
                for uid in launch.pod_uids:
                    self.report.pending[pod_key(raw[uid])] = (
                        "serverless capacity is not available for this cluster"
                    )
        written = write_launch_rows(
            self.ctx, [launch for launch in result.launches if not launch.serverless], inputs
        )
        crash_point("after_row")
        self.rows.extend(written)
        self._launch(written)
        for item in result.unschedulable:
            pod = raw[item.pod_uid]
            self.report.pending[pod_key(pod)] = item.reason
            self._record_pending(pod, item.reason)

    def _launch(self, rows: list[ManagedNode]) -> None:
        if self.dispatch is not None:
            for row in rows:
                row.launch_requested_at = row.launch_requested_at or timezone.now()
                row.save(update_fields=["launch_requested_at"])
            if rows:
                self.dispatch([str(row.pk) for row in rows])
                self.report.launched += len(rows)
            return
        for row, progressed in zip(rows, launch_rows(self.ctx, rows), strict=True):
            if progressed and row.state == NodeState.PENDING:
                self.report.launched += 1

    def _resume_launches(self) -> None:
        """LAUNCHING rows: a launch another worker started and may not have finished. Repeat it (same
        token, so at most one instance) unless it was handed off moments ago."""
        stale_before = self.ctx.now - LAUNCH_HANDOFF_GRACE
        rows = [
            row
            for row in self.rows
            if row.state == NodeState.LAUNCHING
            and (
                row.launch_requested_at is None
                or row.launch_requested_at < stale_before
                or self.dispatch is None
            )
        ]
        if self.dispatch is not None:
            self._launch(rows)
            self.report.launched -= len(rows)  # resumed, not new
        else:
            launch_rows(self.ctx, rows)

    def _record_pending(self, pod: dict[str, Any], reason: str) -> None:
        # One decision per pod and reason, not one per pass.
        from policies.models import Decision

        subject = pod_key(pod)
        last = Decision.objects.filter(
            cluster=self.ctx.cluster, kind=DecisionKind.PENDING, subject=subject
        ).first()
        if last is None or last.reason != reason[:500]:
            record(
                self.ctx.cluster,
                DecisionKind.PENDING,
                reason,
                subject=subject,
                policy_version=self.ctx.policy_version,
            )
