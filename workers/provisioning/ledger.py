"""The pass's rows, and its intents recorded through the apps' services before anyone acts on them.

The ledger holds the ManagedNode rows of one pass and hands decisions their typed records; each
command is recorded here (the row's change through `clusters.services.managed_nodes`, its decision
through `policies.services.decisions`, both in one transaction) and the record refreshed, so the next
decision of the pass sees it. Nothing here calls the cloud or the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clusters.models import ManagedNode
from clusters.services import managed_nodes as nodes
from engines.planner import Launch
from policies.models import DecisionKind
from policies.services.decisions import (
    decision_build,
    decision_record_pending,
    decisions_record,
)
from workers.provisioning.commands import (
    BindPlanned,
    CollectInstance,
    Consolidate,
    DrainReplaced,
    Forget,
    GiveUp,
    Interrupt,
    JoinNode,
    LaunchNode,
    LeavePending,
    MarkEmpty,
    Register,
    ReplacementDone,
    Terminate,
    offering_json,
)
from workers.provisioning.context import ReconcileContext
from workers.provisioning.launching import launch_rows
from workers.provisioning.records import Lifecycle, NodeRecord
from workers.provisioning.rows import active_rows, node_record


def _node_launch(command: LaunchNode, policy_version: str) -> nodes.NodeLaunch:
    launch: Launch = command.launch
    chosen = launch.chosen
    return nodes.NodeLaunch(
        plan_node_id=launch.node_id,
        reason=launch.decision.reason,
        instance_type=chosen.instance_type,
        capacity_type=chosen.capacity_type.value,
        zone=chosen.zone,
        price_per_hour=chosen.price_per_hour,
        offerings=[offering_json(offering) for offering in launch.offerings],
        planned_pods=[planned.to_json() for planned in command.planned],
        launched_for=[planned.key for planned in command.planned],
        reserved_for_pod=command.reserved_for,
        policy_version=policy_version,
    )


class Ledger:
    def __init__(self, ctx: ReconcileContext, rows: Iterable[ManagedNode]) -> None:
        self.ctx = ctx
        self._rows = {str(row.pk): row for row in rows}
        self._records = {key: node_record(row) for key, row in self._rows.items()}

    @classmethod
    def load(cls, ctx: ReconcileContext) -> Ledger:
        """The cluster's active rows."""
        return cls(ctx, active_rows(ctx.cluster))

    def records(self) -> tuple[NodeRecord, ...]:
        return tuple(self._records.values())

    def record(self, record_id: str) -> NodeRecord:
        return self._records[record_id]

    def _changed(self, row: ManagedNode) -> NodeRecord:
        record = self._records[str(row.pk)] = node_record(row)
        return record

    def _decide(
        self,
        kind: DecisionKind,
        reason: str,
        *,
        node: ManagedNode | None = None,
        subject: str = "",
        inputs: dict[str, Any] | None = None,
        cost_per_hour: float | None = None,
    ) -> None:
        decision = decision_build(
            self.ctx.cluster,
            kind=kind,
            reason=reason,
            node=node,
            subject=subject,
            inputs=inputs,
            cost_per_hour=cost_per_hour,
            policy_version=self.ctx.policy_version,
        )
        decisions_record([decision])

    # --- launches --------------------------------------------------------------------------------------
    def launches(self, launches: Sequence[LaunchNode]) -> list[NodeRecord]:
        """Record the launches (rows and decisions) in one transaction, before any cloud call. A launch
        another worker already recorded (same token) is left out; the others go ahead."""
        if not launches:
            return []
        try:
            with transaction.atomic():
                written = self._write_launches(launches)
        except IntegrityError:
            written = []
            for launch in launches:
                try:
                    with transaction.atomic():
                        written += self._write_launches([launch])
                except IntegrityError:
                    continue
        for row in written:
            self._rows[str(row.pk)] = row
        return [self._changed(row) for row in written]

    def _write_launches(self, launches: Sequence[LaunchNode]) -> list[ManagedNode]:
        version = self.ctx.policy_version
        rows = nodes.managed_nodes_launching(
            self.ctx.cluster, launches=[_node_launch(launch, version) for launch in launches]
        )
        decisions = []
        specs = {spec.name: spec for spec in self.ctx.catalog.instance_types}
        for row, command in zip(rows, launches, strict=True):
            launch, chosen = command.launch, command.launch.chosen
            decisions.append(
                decision_build(
                    self.ctx.cluster,
                    kind=DecisionKind.LAUNCH,
                    reason=launch.decision.reason,
                    node=row,
                    subject=command.subject,
                    chosen=offering_json(chosen, specs.get(chosen.instance_type)),
                    runner_ups=[
                        offering_json(o, specs.get(o.instance_type)) for o in launch.decision.runner_ups
                    ],
                    inputs={
                        "pods": [planned.key for planned in command.planned][:50],
                        "fallbacks": len(launch.offerings) - 1,
                        **({"plan": command.plan.as_json()} if command.plan else {}),
                    },
                    cost_per_hour=chosen.price_per_hour,
                    policy_version=version,
                )
            )
        decisions_record(decisions)
        return rows

    def launch_requested(self, record_ids: Sequence[str]) -> None:
        """Launches handed to launch tasks (the first call to the cloud is theirs)."""
        now = timezone.now()
        for record_id in record_ids:
            nodes.managed_node_launch_requested(self._rows[record_id], at=now)
            self._changed(self._rows[record_id])

    def launch_now(self, record_ids: Sequence[str]) -> list[bool]:
        """Make the launches' cloud calls in this pass; True for each that progressed."""
        rows = [self._rows[record_id] for record_id in record_ids]
        progressed = launch_rows(self.ctx, rows)
        for row in rows:
            self._changed(row)
        return progressed

    def join(self, joins: Sequence[JoinNode]) -> None:
        for join in joins:
            row = self._rows[join.record_id]
            nodes.managed_node_plan_pods(
                row, planned_pods=[*row.planned_pods, *(p.to_json() for p in join.planned)]
            )
            self._changed(row)

    def leave_pending(self, pending: LeavePending) -> None:
        if pending.remember:
            decision_record_pending(
                self.ctx.cluster,
                subject=pending.pod_key,
                reason=pending.reason,
                policy_version=self.ctx.policy_version,
            )

    def bound(self, plan: BindPlanned, names: Sequence[str]) -> None:
        """What a bind plan did: the row keeps the pods still to bind elsewhere, and the decision says
        which pods were bound."""
        row = self._rows[plan.record_id]
        if plan.changed:
            nodes.managed_node_plan_pods(row, planned_pods=[planned.to_json() for planned in plan.kept])
            self._changed(row)
        if names:
            self._decide(
                DecisionKind.BIND,
                f"Bound {len(names)} pod(s) to {plan.node_name} as planned",
                node=row,
                subject=plan.node_name,
                inputs={"pods": list(names[:50])},
            )

    # --- a node's life ---------------------------------------------------------------------------------
    def register(self, command: Register) -> None:
        row = self._rows[command.record_id]
        allocatable = command.allocatable
        nodes.managed_node_ready(
            row,
            node_name=command.node_name,
            allocatable={
                "cpu": allocatable.cpu_millis,
                "memory": allocatable.memory_mib,
                "gpu": allocatable.gpus,
                "pods": allocatable.pods,
            },
            at=self.ctx.now,
        )
        self._changed(row)

    def forget(self, command: Forget) -> None:
        row = self._rows[command.record_id]
        with transaction.atomic():
            reason = "" if command.was == Lifecycle.TERMINATING else "instance is gone"
            nodes.managed_node_terminated(row, reason=reason, at=self.ctx.now)
            if command.note:
                self._decide(DecisionKind.GARBAGE, command.note, node=row, subject=str(row))
        self._changed(row)

    def terminate(self, command: Terminate) -> None:
        row = self._rows[command.record_id]
        with transaction.atomic():
            nodes.managed_node_terminating(row, reason=command.reason)
            self._decide(
                DecisionKind.TERMINATE,
                command.reason,
                node=row,
                subject=command.subject,
                cost_per_hour=-command.price_per_hour,
            )
        self._changed(row)

    # --- disruption ------------------------------------------------------------------------------------
    def interrupt(self, command: Interrupt) -> None:
        row = self._rows[command.record_id]
        with transaction.atomic():
            nodes.managed_node_draining(row, reason=command.reason, interrupted_at=self.ctx.now)
            self._decide(DecisionKind.INTERRUPTION, command.note, node=row, subject=command.subject)
        self._changed(row)

    def mark_empty(self, command: MarkEmpty) -> None:
        row = self._rows[command.record_id]
        nodes.managed_node_empty_since(row, since=command.since)
        self._changed(row)

    def replacement_done(self, command: ReplacementDone) -> None:
        row = self._rows[command.record_id]
        nodes.managed_node_replacement_done(row)
        self._changed(row)

    def drain_replaced(self, command: DrainReplaced) -> None:
        row = self._rows[command.record_id]
        nodes.managed_node_draining(row, reason=command.reason)
        self._changed(row)

    def consolidate(self, command: Consolidate) -> list[NodeRecord]:
        """Record a consolidation: the nodes go DRAINING at once (delete), or their one replacement is
        recorded as a launch and each of them names it, in one transaction (they drain once it is
        Ready; a crash before the launch leaves a LAUNCHING row the next pass launches). The
        replacement recorded, if any."""
        rows = [self._rows[record_id] for record_id in command.record_ids]
        written: list[NodeRecord] = []
        with transaction.atomic():
            if command.replacement is not None:
                written = self.launches([command.replacement])
                if not written:  # another worker recorded it: its pass links the nodes
                    return []
                nodes.managed_nodes_replaced_by(rows, self._rows[written[0].id])
            else:
                for row in rows:
                    nodes.managed_node_draining(row, reason="consolidation: its pods fit on other nodes")
            self._decide(
                DecisionKind.INTERRUPTION if command.rebalance else DecisionKind.CONSOLIDATE,
                command.note,
                node=rows[0],
                subject=", ".join(command.node_names),
                inputs={"nodes": list(command.node_names)} if len(rows) > 1 else None,
                cost_per_hour=-command.saving_per_hour,
            )
        for row in rows:
            self._changed(row)
        return written

    def collect(self, command: CollectInstance) -> None:
        self._decide(
            DecisionKind.GARBAGE,
            f"Terminated {command.instance_id} ({command.instance_type}): tagged for this cluster but no "
            "Nodeless record owns it (a launch that crashed before it was recorded)",
            subject=command.instance_id,
        )

    def give_up(self, command: GiveUp) -> None:
        row = self._rows[command.record_id]
        with transaction.atomic():
            nodes.managed_node_failed(row, reason="never became a Ready node within 10 minutes; terminated")
            self._decide(
                DecisionKind.GARBAGE,
                f"{command.instance_id} never became a Ready node; terminated",
                node=row,
                subject=command.subject,
            )
        self._changed(row)
