"""One reconcile pass of one nodeless cluster, as controllers with explicit inputs:
observe → pure decisions → intents recorded → executors acting through the injected ports.

`reconcile` decides which clusters get a pass and holds each one's lease while it runs; this module is
the pass itself, step by step:

1. Read (`reads`): the cluster's pods and nodes, our instances, interruption notices; our rows (`ledger`).
2. Lifecycle (`lifecycle`): resume launches a crashed worker left half-done (same idempotency token:
   no second instance); instances that registered as Ready nodes; instances that are gone;
   terminations recorded but not finished.
3. Spot interruptions (`disruption.interruption`): drain the node, and plan its pods again at once.
4. Bind (`bind`) the pods planned onto nodes that became Ready (Binding API), then lift the
   initializing taint.
5. Launch (`launch`): plan the pending pods (existing and in-flight nodes first) and launch what the
   planner chose.
6. Emptiness and consolidation (`disruption.emptiness`, `disruption.consolidation`); drain what is
   draining (`drain`); garbage collection (`disruption.garbage`).

Each step is a pure decision over `PassInputs` returning commands; the `Ledger` records them (rows
and decisions, through the apps' services) before the executors (`executors`, `launching`) act
through `ctx.provider` and `ctx.kube`. Every step is idempotent and bounded: a crash anywhere is
repaired by the next pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial

from clusters.cloud.interface import InterruptionNotice
from clusters.models import ManagedNode
from engines.kube import CapacityType, Pod
from engines.kube.predicate import BindCheck
from workers.provisioning import executors
from workers.provisioning.batch import cloud_reads
from workers.provisioning.bind import plan_binds
from workers.provisioning.commands import (
    BindPlanned,
    CollectInstance,
    Consolidate,
    DeleteNode,
    DisruptionCommand,
    GiveUp,
    Interrupt,
    LeavePending,
    MarkEmpty,
    Register,
    ReplacementDone,
    Terminate,
)
from workers.provisioning.context import ReconcileContext
from workers.provisioning.crash import crash_point
from workers.provisioning.disruption.base import Method, disrupt
from workers.provisioning.disruption.consolidation import Consolidation, replacements_settled
from workers.provisioning.disruption.emptiness import Emptiness
from workers.provisioning.disruption.garbage import GarbageCollection
from workers.provisioning.disruption.interruption import Interruption
from workers.provisioning.disruption.rebalance import Rebalance
from workers.provisioning.drain import drains
from workers.provisioning.fargate import act_serverless
from workers.provisioning.inputs import NodeIndex, PassInputs
from workers.provisioning.launch import plan_launches, pods_to_plan
from workers.provisioning.ledger import Ledger
from workers.provisioning.lifecycle import (
    launches_to_resume,
    registrations_and_losses,
    terminations_to_finish,
)
from workers.provisioning.ports import Json
from workers.provisioning.reads import (
    acknowledge_notices,
    answer_in_time,
    list_instances_when_due,
    observe,
    read_notices,
)
from workers.provisioning.records import Lifecycle
from workers.provisioning.rows import known_instance_ids


@dataclass
class ReconcileReport:
    cluster_id: str
    outcome: str  # "done", "busy" (another worker holds the lease), "skipped", "throttled" (API budget)
    launched: int = 0
    bound: int = 0
    terminated: int = 0
    pending: dict[str, str] = field(default_factory=dict)  # "namespace/name" → why it stays pending
    recreated: list[str] = field(
        default_factory=list
    )  # pods deleted so that their owner's new one runs on Fargate
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step, to see what a pass spent


LaunchDispatch = Callable[[list[str]], None]


def run_pass(
    ctx: ReconcileContext,
    *,
    renew: Callable[[], object] = lambda: None,
    dispatch: LaunchDispatch | None = None,
    rows: Sequence[ManagedNode] | None = None,
) -> ReconcileReport:
    """One pass over `ctx`, acting through its ports (`ctx.provider`, `ctx.kube`); `renew` keeps the
    lease between steps; `rows`: the cluster's active rows, when its batch read them (else the pass
    reads them once it has observed the cluster)."""
    return _Pass(ctx, renew, dispatch, rows).run()


@dataclass
class _BindsInFlight:
    plans: tuple[BindPlanned, ...]
    calls: list[list[Future[bool]]]

    @property
    def binding(self) -> frozenset[str]:
        """Pods with a bind call in this pass, whatever its outcome: not planned again."""
        return frozenset(pod.uid for plan in self.plans for pod in plan.pods)


class _Pass:
    def __init__(
        self,
        ctx: ReconcileContext,
        renew: Callable[[], object],
        dispatch: LaunchDispatch | None,
        rows: Sequence[ManagedNode] | None = None,
    ) -> None:
        self.ctx, self.renew, self.dispatch, self.rows = ctx, renew, dispatch, rows
        self.report = ReconcileReport(str(ctx.cluster.pk), "done")
        self.replacement_pods: list[Pod] = []  # the pods of interrupted nodes, planned in this pass
        self.bind_check: BindCheck | None = None  # every bind of the pass is checked against it

    def run(self) -> ReconcileReport:
        # The cloud reads (instances, interruption notices) run while the cluster is read: a pass
        # that answers pending pods within a second cannot wait for them one after the other.
        # They run on the process's pool for cloud reads, not threads of their own: starting two threads
        # a pass costs more than an idle pass's own work.
        listing = cloud_reads().submit(list_instances_when_due, self.ctx)
        notices = cloud_reads().submit(read_notices, self.ctx)
        with self._step("observe"):
            state = observe(self.ctx)
        with self._step("instances"):
            instances = answer_in_time(listing, None, self.ctx, "instance listing")
        self.ledger = Ledger.load(self.ctx) if self.rows is None else Ledger(self.ctx, self.rows)
        self.inputs = PassInputs(
            cluster=self.ctx.facts,
            state=state,
            nodes=NodeIndex(state),
            records=self.ledger.records(),
            instances=instances,
            policy=self.ctx.policy,
            catalog=self.ctx.catalog,
            scale_down_delay=timedelta(seconds=self.ctx.scale_down_delay),
            now=self.ctx.now,
        )
        with self._step("sync"):
            self._resume_launches()
            self._sync()
            read = answer_in_time(notices, (), self.ctx, "interruption queue read")
            self._interruptions(read)
            acknowledge_notices(self.ctx, read)  # recorded: now the queue may forget them
        self.renew()
        # Binds to newly Ready nodes are network calls answered by the API server, and planning is
        # this process's own work: they overlap, so a pod waiting for a launch does not also wait
        # for every bind of the pass.
        with ThreadPoolExecutor(max_workers=executors.PARALLEL_CALLS) as pool:
            with self._step("bind"):
                in_flight = self._start_binds(pool)
            with self._step("plan_and_launch"):
                self._plan_and_launch(in_flight.binding)
            with self._step("bind_wait"):
                self._finish_binds(in_flight)
        self.renew()
        with self._step("scale_down"):
            self._disrupt(Emptiness())
            self._consolidate()
            self._drain()
        with self._step("garbage"):
            self._disrupt(GarbageCollection(self._known_instances()))
        return self.report

    def _known_instances(self) -> frozenset[str]:
        """The instances of the cluster's active rows, for garbage collection. Read from the database
        afresh (launch tasks in other workers record instances while a pass runs) only when the cloud
        listed one the pass's rows do not own: rows only gain instances while the pass holds the
        lease, so when every listed instance is owned already, nothing listed can be garbage."""
        if self.inputs.instances is None:
            return frozenset()
        owned = frozenset(record.instance_id for record in self.inputs.active() if record.instance_id)
        if all(instance_id in owned for instance_id in self.inputs.instances):
            return owned
        return known_instance_ids(self.ctx.cluster)

    @contextmanager
    def _step(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.report.steps[name] = round(time.perf_counter() - began, 4)

    def _refresh(self) -> None:
        """The next decision sees what this pass recorded so far (the same inputs if nothing)."""
        records = self.ledger.records()
        if records != self.inputs.records:
            self.inputs = self.inputs.with_records(records)

    # --- launching ---------------------------------------------------------------------------------------
    def _launch(self, record_ids: Sequence[str]) -> None:
        """Hand recorded launches to launch tasks, or launch them now."""
        if not record_ids:
            return
        if self.dispatch is not None:
            self.ledger.launch_requested(record_ids)
            self.dispatch(list(record_ids))
            self.report.launched += len(record_ids)
        else:
            progressed = self.ledger.launch_now(record_ids)
            self.report.launched += sum(
                1
                for record_id, done in zip(record_ids, progressed, strict=True)
                if done and self.ledger.record(record_id).state == Lifecycle.PENDING
            )
        self._refresh()

    def _resume_launches(self) -> None:
        ids = [record.id for record in launches_to_resume(self.inputs, dispatching=self.dispatch is not None)]
        if self.dispatch is not None:
            self._launch(ids)
            self.report.launched -= len(ids)  # resumed, not new
        elif ids:
            self.ledger.launch_now(ids)
            self._refresh()

    def _plan_and_launch(self, binding: frozenset[str]) -> None:
        pods = [*pods_to_plan(self.inputs, binding), *self.replacement_pods]
        if not pods:
            self._serverless(())
            return
        with self._step("planner"):
            with_claims = [pod for pod in pods if pod.claim_names]
            zones = self.ctx.kube.volume_zones(with_claims)
            room = self.ctx.kube.attach_room(self.inputs.state) if with_claims else {}
            if self.bind_check is not None:
                self.bind_check.know_volumes(zones, room)
            decided = plan_launches(self.inputs, pods, self.bind_check, zones, room)
        problem = self.ctx.node_class.problem()
        if problem and decided.launches:
            # Launching would only make instances that never join: the pods wait, saying why.
            reason = f"no node can be launched for this cluster: {problem}"
            held = tuple(
                LeavePending(pod.key, reason) for launch in decided.launches for pod in launch.planned
            )
            decided = replace(decided, launches=(), pending=(*decided.pending, *held))
        self.ledger.join(decided.joins)
        self.report.bound += executors.bind(self.ctx.kube, decided.binds)
        written = self.ledger.launches(decided.launches)
        crash_point("after_row")
        self._refresh()
        self._launch([record.id for record in written])
        self._leave_pending(decided.pending)
        self._serverless(decided.serverless)

    def _leave_pending(self, pending: Sequence[LeavePending]) -> None:
        for each in pending:
            self.report.pending[each.pod_key] = each.reason
            self.ledger.leave_pending(each)

    def _serverless(self, pods: Sequence[Pod]) -> None:
        """Route the pods the planner put on serverless through Fargate profiles, and delete our
        profiles no pod needs any more (`fargate.act_serverless`)."""
        outcome = act_serverless(
            str(self.ctx.cluster.pk),
            self.ctx.serverless,
            self.ctx.kube,
            pods,
            self.inputs.state,
            now=self.ctx.now,
            keep_seconds=self.ctx.scale_down_delay,
            allowed=CapacityType.SERVERLESS in self.ctx.policy.capacity_types,
        )
        self.report.recreated += outcome.recreated
        self._leave_pending(outcome.pending)

    # --- a node's life -----------------------------------------------------------------------------------
    def _sync(self) -> None:
        commands = registrations_and_losses(self.inputs)
        registering = [command for command in commands if isinstance(command, Register)]
        # A pass that sees many nodes register at once makes them its own side by side: each is a
        # few API calls, and the pods planned onto them wait for the slowest, not for the sum.
        answers = executors.parallel([partial(self._make_own, command) for command in registering])
        changed = {command.node_name: answer for command, answer in zip(registering, answers, strict=True)}
        for command in commands:
            if isinstance(command, Register):
                self.ledger.register(command)
            else:
                self.ledger.forget(command)
                if command.node_name:
                    self.ctx.kube.delete_node(command.node_name)
        # With the node's own startup-taint value seen, a toleration opens that node and no other
        # (one for the template's shared value would open every node registered with it), and
        # with the labels just applied seen, a pod selecting them passes the bind check: the pods
        # planned onto a node that registered are bound in this same pass.
        self.inputs = self.inputs.with_nodes_seen(changed)
        self._refresh()
        for finish in terminations_to_finish(self.inputs):
            executors.terminate(
                self.ctx.provider, self.ctx.kube, node_name=finish.node_name, instance_id=finish.instance_id
            )

    def _make_own(self, command: Register) -> Json | None:
        """Label a node that registered and make its startup taint its own; the node as the API
        server answered the last change (None: no change, or the node is gone)."""
        node = None
        if command.labels:
            node = self.ctx.kube.label_node(command.node_name, command.labels)
        if command.own_taint:
            node = self.ctx.kube.own_taint(command.node_name, *command.own_taint)
        return node

    def _terminate(self, command: Terminate) -> None:
        self.ledger.terminate(command)
        self.report.terminated += 1
        executors.terminate(
            self.ctx.provider, self.ctx.kube, node_name=command.node_name, instance_id=command.instance_id
        )

    # --- binding -----------------------------------------------------------------------------------------
    def _start_binds(self, pool: ThreadPoolExecutor) -> _BindsInFlight:
        """Bind the pods planned onto nodes that became Ready; the calls run on `pool` while the pass
        goes on."""
        self.bind_check = BindCheck(self.inputs.state)
        plans = plan_binds(self.inputs, self.bind_check)
        if any(plan.pods for plan in plans):
            crash_point("before_bind")
        return _BindsInFlight(plans, executors.start_binds(pool, self.ctx.kube, plans))

    def _finish_binds(self, in_flight: _BindsInFlight) -> None:
        bound_now = set()
        for plan, calls in zip(in_flight.plans, in_flight.calls, strict=True):
            names = [pod.key for pod, call in zip(plan.pods, calls, strict=True) if call.result()]
            self.ledger.bound(plan, names)
            self.report.bound += len(names)
            if names:
                bound_now.add(plan.record_id)
        executors.untaint(self.ctx.kube, in_flight.plans)
        self.inputs = replace(self.inputs, records=self.ledger.records(), bound_now=frozenset(bound_now))

    # --- disruption --------------------------------------------------------------------------------------
    def _interruptions(self, notices: tuple[InterruptionNotice, ...]) -> None:
        self.inputs = replace(self.inputs, notices=notices)
        self._disrupt(Interruption())
        self._disrupt(Rebalance())

    def _consolidate(self) -> None:
        for command in replacements_settled(self.inputs):
            if isinstance(command, ReplacementDone):
                self.ledger.replacement_done(command)
            else:
                self.ledger.drain_replaced(command)
        self._refresh()
        self._disrupt(Consolidation(self.ctx.consolidation_min_saving_share))

    def _drain(self) -> None:
        for command in drains(self.inputs):
            if isinstance(command, Terminate):
                self._terminate(command)
            elif executors.drain(self.ctx.kube, command):
                self._terminate(command.then)
        self._refresh()

    def _disrupt(self, method: Method) -> None:
        for command in disrupt(method, self.inputs):
            self._apply(command)
        self._refresh()

    def _apply(self, command: DisruptionCommand) -> None:
        """Record a disruption command, then act on it."""
        provider, kube = self.ctx.provider, self.ctx.kube
        match command:
            case Interrupt():
                self.ledger.interrupt(command)
                if command.node_name:
                    kube.cordon(command.node_name)
                self.replacement_pods.extend(command.replacement_pods)
            case MarkEmpty():
                self.ledger.mark_empty(command)
            case Terminate():
                self._terminate(command)
            case Consolidate():
                self._launch([record.id for record in self.ledger.consolidate(command)])
            case CollectInstance():
                self.ledger.collect(command)
                provider.terminate([command.instance_id])
            case GiveUp():
                self.ledger.give_up(command)
                provider.terminate([command.instance_id])
            case DeleteNode():
                kube.delete_node(command.node_name)
