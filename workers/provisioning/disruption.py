"""The steps of a reconcile pass that take capacity away: spot interruptions, scale-down of empty
nodes, delete consolidation, draining, and garbage collection of leaked instances and nodes.

`DisruptionSteps` is mixed into the pass (`workers.provisioning.reconcile`); it works on the pass's
observation and rows and declares what it needs from it.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import timedelta
from typing import Any

from clusters.cloud.errors import CloudError
from clusters.cloud.interface import InstanceState, InterruptionNotice, NoticeKind
from clusters.models import ACTIVE_STATES, ManagedNode, NodeState
from engines.planner import ExistingNode, Snapshot, plan
from policies.models import DecisionKind
from workers.provisioning.context import ReconcileContext
from workers.provisioning.crash import crash_point
from workers.provisioning.decisions import record
from workers.provisioning.launching import LaunchInputs, write_launch_rows
from workers.provisioning.observe import (
    NODE_ID_LABEL,
    ClusterView,
    NodeView,
    controller_of,
    may_evict,
    pod_request,
)

# An instance that has not become a Ready node this long after launch is terminated.
REGISTRATION_TIMEOUT = timedelta(minutes=10)
# Consolidate a packed node when its requests use less than this share of CPU and memory.
CONSOLIDATION_UTILIZATION = 0.5
# Replace such a node only when the replacement saves at least this share of its price (a smaller
# saving is not worth moving pods for).
REPLACE_MIN_SAVING = 0.2


class DisruptionSteps:
    ctx: ReconcileContext
    view: ClusterView
    rows: list[ManagedNode]
    instances: dict[str, Any] | None
    notices: Future[list[InterruptionNotice]]
    replacement_pods: list[dict[str, Any]]
    _bound_rows: set[Any]
    report: Any  # the pass's ReconcileReport

    def _active(self) -> list[ManagedNode]:
        raise NotImplementedError

    def _node_of(self, row: ManagedNode) -> NodeView | None:
        raise NotImplementedError

    def _set_state(self, row: ManagedNode, state: str, reason: str = "", **fields: Any) -> None:
        raise NotImplementedError

    def _existing_nodes(self) -> list[ExistingNode]:
        raise NotImplementedError

    def _launch(self, rows: list[ManagedNode]) -> None:
        raise NotImplementedError

    # --- 5. interruptions ------------------------------------------------------------------------
    def _interruptions(self) -> None:
        try:
            notices = self.notices.result()
        except CloudError:
            return
        by_instance = {row.instance_id: row for row in self._active() if row.instance_id}
        for notice in notices:
            row = by_instance.get(notice.instance_id)
            if row is None or notice.kind != NoticeKind.SPOT_INTERRUPTION or row.interrupted_at:
                continue
            node = self._node_of(row)
            if node is not None:
                self.ctx.kube.cordon(node.name)
                # Plan the replacement now, in this pass, for the pods the node is about to lose.
                self.replacement_pods.extend(dict(pod) for pod in node.workload_pods)
            deadline = f" before {notice.deadline:%H:%M:%S} UTC" if notice.deadline else ""
            self._set_state(
                row,
                NodeState.DRAINING,
                f"spot interruption notice: reclaimed{deadline}",
                interrupted_at=self.ctx.now,
            )
            record(
                self.ctx.cluster,
                DecisionKind.INTERRUPTION,
                f"Spot interruption for {row.instance_type} in {row.zone}: cordoned, draining, replacement planned",
                node=row,
                subject=str(row),
                policy_version=self.ctx.policy_version,
            )

    # --- 8. scale down, consolidate, drain, garbage ------------------------------------------------
    def _terminate(self, row: ManagedNode, node: NodeView | None, reason: str) -> None:
        if node is not None:
            self.ctx.kube.cordon(node.name)
        if row.instance_id:
            self.ctx.provider.terminate([row.instance_id])
        if node is not None:
            self.ctx.kube.delete_node(node.name)
        self._set_state(row, NodeState.TERMINATING, reason)
        self.report.terminated += 1
        record(
            self.ctx.cluster,
            DecisionKind.TERMINATE,
            reason,
            node=row,
            subject=str(row),
            cost_per_hour=-float(row.price_per_hour),
            policy_version=self.ctx.policy_version,
        )

    def _scale_down(self) -> None:
        delay = timedelta(seconds=self.ctx.scale_down_delay)
        for row in self._active():
            if row.state != NodeState.READY:
                continue
            node = self._node_of(row)
            if node is None:
                continue
            # Pods bound in this pass are not in the view yet: their row's planned list was just cleared,
            # so count a node that received pods now as busy too.
            busy = bool(node.workload_pods) or bool(row.planned_pods) or self._received_pods_now(row)
            if busy:
                if row.empty_since is not None:
                    row.empty_since = None
                    row.save(update_fields=["empty_since"])
                continue
            if row.empty_since is None:
                row.empty_since = self.ctx.now
                row.save(update_fields=["empty_since"])
            if self.ctx.now - row.empty_since >= delay:
                self._terminate(
                    row,
                    node,
                    f"empty (daemonsets aside) for {int(delay.total_seconds())} s: "
                    f"saves ${float(row.price_per_hour):.4f}/h",
                )

    def _received_pods_now(self, row: ManagedNode) -> bool:
        return row.pk in self._bound_rows

    def _consolidate(self) -> None:
        """Single-node consolidation, like Karpenter's: one underutilized packed node per pass is
        deleted when its pods fit on the other nodes, or replaced when a node that holds them costs
        at least REPLACE_MIN_SAVING less. A replaced node is drained only once its replacement is
        Ready, and its pods' controllers' new pods are bound to the replacement as planned."""
        self._finish_replacements()
        replacing = {row.replaces_id for row in self._active() if row.replaces_id}
        delay = timedelta(seconds=self.ctx.scale_down_delay)
        for row in self._active():
            node = self._node_of(row)
            if (
                row.state != NodeState.READY
                or row.reserved_for_pod
                or row.replaces_id
                or row.pk in replacing
                or node is None
                or not node.workload_pods
                or row.planned_pods
                or row.ready_at is None
                or self.ctx.now - row.ready_at < delay
            ):
                continue
            used, allocatable = node.requested(), node.allocatable
            if not (
                used.cpu_millis < CONSOLIDATION_UTILIZATION * allocatable.cpu_millis
                and used.memory_mib < CONSOLIDATION_UTILIZATION * allocatable.memory_mib
            ):
                continue
            if not all(may_evict(pod) for pod in node.workload_pods):
                continue
            others = [n for n in self._existing_nodes() if n.name != node.name and n.ready]
            requests = {pod["metadata"]["uid"]: pod_request(pod) for pod in node.workload_pods}
            trial = plan(
                Snapshot(
                    pods=tuple(requests.values()),
                    existing_nodes=tuple(others),
                    daemonset_overhead=self.view.daemonset_overhead,
                    region=self.ctx.cluster.region,
                ),
                self.ctx.policy,
                self.ctx.catalog,
            )
            if trial.unschedulable or any(launch.serverless for launch in trial.launches):
                continue
            usage = f"{node.name} used {used.cpu_millis / max(allocatable.cpu_millis, 1):.0%} CPU"
            price = float(row.price_per_hour)
            if not trial.launches:
                self._set_state(row, NodeState.DRAINING, "consolidation: its pods fit on other nodes")
                self._record_consolidation(
                    row,
                    node,
                    f"{usage}; its {len(requests)} pod(s) fit on other nodes, saving ${price:.4f}/h",
                    price,
                )
                return
            replacement_price = sum(launch.chosen.price_per_hour for launch in trial.launches)
            if replacement_price > (1 - REPLACE_MIN_SAVING) * price:
                continue
            pods = {pod["metadata"]["uid"]: pod for pod in node.workload_pods}
            inputs = LaunchInputs(
                pods_by_uid=pods,
                requests_by_uid={uid: request.requests for uid, request in requests.items()},
                owners={uid: controller_of(pod) for uid, pod in pods.items()},
                replaces=row,
            )
            written = write_launch_rows(self.ctx, list(trial.launches), inputs)
            if not written:
                continue
            self.rows.extend(written)
            self._launch(written)
            types = ", ".join(launch.chosen.instance_type for launch in trial.launches)
            self._record_consolidation(
                row,
                node,
                f"{usage}; replacing it with {types} at ${replacement_price:.4f}/h saves "
                f"${price - replacement_price:.4f}/h (drained once the replacement is Ready)",
                price - replacement_price,
            )
            return

    def _record_consolidation(self, row: ManagedNode, node: NodeView, reason: str, saving: float) -> None:
        record(
            self.ctx.cluster,
            DecisionKind.CONSOLIDATE,
            reason,
            node=row,
            subject=node.name,
            cost_per_hour=-saving,
            policy_version=self.ctx.policy_version,
        )

    def _finish_replacements(self) -> None:
        """Drain nodes whose replacement became Ready; a replacement whose node is gone is an
        ordinary node from then on."""
        by_pk = {row.pk: row for row in self.rows}
        for row in self._active():
            if not row.replaces_id:
                continue
            old = by_pk.get(row.replaces_id)
            if old is None or old.state not in ACTIVE_STATES:
                row.replaces = None
                row.save(update_fields=["replaces"])
            elif row.state == NodeState.READY and old.state == NodeState.READY:
                self._set_state(old, NodeState.DRAINING, f"consolidation: replaced by {row.instance_type}")

    def _drain(self) -> None:
        for row in self._active():
            if row.state != NodeState.DRAINING:
                continue
            node = self._node_of(row)
            if node is None:
                self._terminate(row, None, "drained (node already gone)")
                continue
            self.ctx.kube.cordon(node.name)
            crash_point("during_drain")
            remaining = 0
            for pod in node.workload_pods:
                # An interrupted spot node goes away regardless; anything else respects do-not-evict.
                if not row.interrupted_at and not may_evict(pod):
                    remaining += 1
                    continue
                if self.ctx.kube.evict(pod["metadata"]["namespace"], pod["metadata"]["name"]) == "blocked":
                    remaining += 1  # a PodDisruptionBudget says not now; try again next pass
            if remaining == 0:
                self._terminate(row, node, row.reason or "drained")

    def _collect_garbage(self) -> None:
        known = set(
            ManagedNode.objects.filter(cluster=self.ctx.cluster, state__in=ACTIVE_STATES)
            .exclude(instance_id="")
            .values_list("instance_id", flat=True)
        )
        launching_tokens = {
            row.idempotency_token for row in self._active() if row.state == NodeState.LAUNCHING
        }
        for instance in (self.instances or {}).values():
            if (
                instance.state in (InstanceState.TERMINATED, InstanceState.SHUTTING_DOWN)
                or instance.instance_id in known
            ):
                continue
            if instance.tags.get("nodeless.io/launch-token") in launching_tokens:
                continue  # a launch being resumed in this very pass
            self.ctx.provider.terminate([instance.instance_id])
            record(
                self.ctx.cluster,
                DecisionKind.GARBAGE,
                f"Terminated {instance.instance_id} ({instance.instance_type}): tagged for this cluster but no "
                "Nodeless record owns it (a launch that crashed before it was recorded)",
                subject=instance.instance_id,
                policy_version=self.ctx.policy_version,
            )
        for row in self._active():
            if (
                row.state == NodeState.PENDING
                and row.launched_at
                and self.ctx.now - row.launched_at > REGISTRATION_TIMEOUT
            ):
                self.ctx.provider.terminate([row.instance_id])
                self._set_state(
                    row, NodeState.FAILED, "never became a Ready node within 10 minutes; terminated"
                )
                record(
                    self.ctx.cluster,
                    DecisionKind.GARBAGE,
                    f"{row.instance_id} never became a Ready node; terminated",
                    node=row,
                    subject=str(row),
                    policy_version=self.ctx.policy_version,
                )
        if self.instances is None:
            return
        active_ids = {str(row.pk) for row in self._active()}
        for node in self.view.managed_nodes():
            if node.labels.get(NODE_ID_LABEL) not in active_ids and node.instance_id not in self.instances:
                self.ctx.kube.delete_node(node.name)
