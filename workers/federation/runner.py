"""One pass of the federation loop for one organization: observe → sync → decide → act → report.

1. Take the organization's lease (``federation:<org id>``); if another worker holds it, do nothing.
2. Observe every member cluster once (nodes, other pods' requests, our objects and pods).
3. Sync each placement from what its cluster reports (status back, unreachable, failing).
4. Decide every active workload with the engine against one fleet (``scheduling``), honouring
   the failure behaviour (``failover``); deleted workloads lose all their placements.
5. Write placements and Decision rows, then act: apply what changed, remove what is no longer
   placed (on clusters that answer; an unreachable cluster's leftovers are removed when it is
   back, so no duplicate keeps running), at most ``apply.MAX_ACTIONS`` per pass.
6. Write each workload's status and message, and report what is still in flight.
7. Apply the stand-alone objects to the clusters their policies name (``standalone``).
8. Give the Kubernetes endpoint's objects their status back (``policies.kubeapi.status_back``),
   from the rows as this pass left them, with what members refused as a ``FullyApplied``
   condition and events (``.propagation``); a memo kept per organization in the process skips the
   objects whose inputs have not moved since the last sync (``StatusMemo``).

The rows are the policies app's: they are loaded, changed and written through its loop services
(``policies.federation.placements`` and ``.status``); this module observes, decides and acts.
Every step is idempotent: a pass that dies half-way leaves rows the next pass reconciles. A task
that ended well leaves its rows to the organization's next task in the same process, which brings
them up to date instead of reading them all, when no other worker held the lease in between
(``ROWS_KEPT``).

Passes back to back (issue 16): when workloads were submitted while a pass ran, it leaves its
applies running (``apply.start``) and the task runs the next pass at once, under the same lease:
that pass loads, looks and decides while the members take the first one's applies, then records
their outcomes before it acts. So a workload submitted during a burst waits for the members'
answers to the pass before it only once, not after every pass. A task runs at most
``MAX_PASSES`` passes; its last pass, and any pass with nothing new submitted, waits for its own
applies. The lease is held until every apply it started has answered, so no other worker applies
the same placements meanwhile; a crash loses only outcomes, and the next pass applies again
(server-side apply of the same object is idempotent).

A pass that follows another does not decide again what the pass before decided and is still
applying (``scheduling.decide_all``). And a burst outlasts a task: a task that ran its
``MAX_PASSES`` with workloads still arriving is cut short, and the next task (queued by those
submissions) carries the burst on, as do the tasks after it (the last submissions queue one
more). Their first pass is then a following pass too - it decides only what is not steady and
asks only the members not heard from lately - until this process last decided every workload
``STEADY_SECONDS`` ago; that task decides everything. So is the first pass of a follow-up (the
task a task queues to watch its unsettled workloads start): it is there for their status. A task
after one that ended on its own outside a burst decides everything, as ever. Before, in the fleet
bench (1,000 workloads arriving over 100 members, the worker under cProfile), the passes made
3,346 and 3,589 decisions, each task's first pass deciding the whole fleet again and asking all
100 members their version; now 2,807 under cProfile, and 1,594 without it (one per new or moved
workload, and the whole fleet once).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from policies.federation.autoscaled import autoscaled_totals_follow
from policies.federation.placements import (
    ActionOutcome,
    FederationRows,
    federation_rows_by_organization_id,
    federation_rows_refresh,
    placement_outcomes_record,
    placements_save,
)
from policies.federation.selectors import workloads_changed_since
from policies.federation.status import TERMINAL_PLACEMENT_STATES, placements_sync, workload_statuses_save
from policies.kubeapi.status_back import StatusMemo, statuses_sync
from workers.federation import apply, scheduling
from workers.federation.companion_statuses import status_kinds
from workers.federation.observe import liveness_seconds, observe_members
from workers.federation.standalone import run_standalone
from workers.leases import HeldLease, release, try_acquire

logger = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=120)
# Passes one task runs back to back while workloads keep arriving (a bounded task, then the lease
# is let go and the next task, queued by those submissions, carries on).
MAX_PASSES = 6

# Between passes back to back, the endpoint's statuses are synced at most this often: each sync
# holds the organization's resourceVersion counter, which every write through the endpoint waits
# for (synced after every pass, the fleet bench's 1,000 submissions took longer: 18.9 s against
# 17.1 s, one run each). It counts from the last sync of the organization in this process, the
# task before's too: that task's last pass synced a moment ago, and the next task's first pass
# synced again before its next pass could decide (0.5-2.1 s each under the fleet bench's burst;
# its 1,000 workloads' syncs took 6.2 s of the worker's passes with it, 3.2 s without, one run each).
STATUS_SECONDS = 3.0

# While a burst carries on from task to task (and in follow-ups), steady workloads are decided
# again (and every member asked) at least this often: a change of the fleet (a member's room freed
# for a burst to return, prices) moves them this much later at most.
STEADY_SECONDS = 10.0

# Organizations whose passes a worker process remembers (``_Memory``): a status memo holds a few
# values per object, and an organization not served for a while is synced in full once when it
# comes back.
STATUS_MEMOS = 64
# Of those, the most recently served whose engine answers at rest it keeps (``DecisionMemo``: a
# couple of KB a workload, so a few MB for an organization of 1,000).
DECISION_MEMOS = 16

# Organizations whose rows a worker process keeps from one task to the next (the most recently
# served): a task whose lease take follows this process's last one (``HeldLease.takes``; no other
# worker held it in between, and placements are written only under it) refreshes them instead of
# reading every row again - at rest, that read was about half of a 1,000-workload organization's
# pass. Rows hold every workload's manifest, so few are kept.
ROWS_KEPT = 8


@dataclass
class _Memory:
    """What this process remembers of an organization's passes: the status memo, the engine's
    answers at rest (``scheduling.DecisionMemo``), when the last status sync and the last pass
    deciding every workload ran (``time.monotonic()``), and whether the last task was cut short
    with workloads still arriving or carried such a burst on."""

    memo: StatusMemo = field(default_factory=StatusMemo)
    decisions: scheduling.DecisionMemo = field(default_factory=scheduling.DecisionMemo)
    synced_at: float = -math.inf
    decided_all_at: float = -math.inf
    in_burst: bool = False

    def decided_all_lately(self) -> bool:
        return time.monotonic() - self.decided_all_at < STEADY_SECONDS


_memories: OrderedDict[str, _Memory] = OrderedDict()
_memories_lock = threading.Lock()
_rows_kept: OrderedDict[str, tuple[int, FederationRows]] = OrderedDict()  # under _memories_lock


@dataclass(frozen=True)
class Applying:
    """A pass's applies still running: their outcomes, once every member answered, and the
    workloads they are for."""

    outcomes: Future[list[ActionOutcome]]
    workload_ids: frozenset[str]


@dataclass(frozen=True)
class PassReport:
    organization_id: str
    clusters: int = 0
    reachable: int = 0
    workloads: int = 0
    decisions: int = 0
    applied: int = 0
    removed: int = 0
    errors: int = 0
    unsettled: int = 0
    seconds: float = 0.0


def lease_name(organization_id: str) -> str:
    return f"federation:{organization_id}"


def run_pass(
    organization_id: str, *, now: datetime | None = None, follow_up: bool = False
) -> PassReport | None:
    """One bounded task of passes (see the module docstring); the last pass's report, or None when
    another worker holds the organization's lease. ``follow_up``: the task is the one a task before
    asked for to follow its unsettled workloads."""
    lease = try_acquire(lease_name(organization_id), ttl=LEASE_TTL)
    if lease is None:
        return None
    applying: Applying | None = None
    memory = _memory(organization_id)
    carrying = memory.in_burst and memory.decided_all_lately()
    following = carrying or (follow_up and memory.decided_all_lately())
    memory.in_burst = False
    rows = _kept_rows(organization_id, lease)
    finished = False
    try:
        report = PassReport(organization_id)
        for number in range(1, MAX_PASSES + 1):
            loaded_at = timezone.now()
            began = time.perf_counter()
            # Passes bring the rows the pass before left (in this task, or in this process's task
            # before when no other worker held the lease since) up to date - their writes, and
            # the API's changes since - instead of reading every row again.
            rows = (
                federation_rows_by_organization_id(organization_id)
                if rows is None
                else federation_rows_refresh(rows)
            )

            def more_work(at: datetime = loaded_at, last: bool = number == MAX_PASSES) -> bool:
                return not last and workloads_changed_since(organization_id, at)

            loaded = time.perf_counter()
            first = number == 1 and not following
            report, applying = _run(
                rows,
                lease,
                now or timezone.now(),
                applying,
                more_work,
                first=first,
                decisions=memory.decisions,
            )
            if first:
                memory.decided_all_at = time.monotonic()
            # Stand-alone objects to the clusters their policies name (policies.kubeapi.standalone).
            ran = time.perf_counter()
            run_standalone(organization_id)
            standalone = time.perf_counter()
            # Status back to the Kubernetes endpoint's objects (and deletions the members finished):
            # after the task's last pass, and between passes at most every STATUS_SECONDS.
            if applying is None or time.monotonic() - memory.synced_at >= STATUS_SECONDS:
                statuses_sync(organization_id, rows, memory.memo)
                memory.synced_at = time.monotonic()
            logger.debug(
                "federation pass %d of its task: %s; rows %.3f s, stand-alone %.3f s, statuses %.3f s",
                number,
                report,
                loaded - began,
                standalone - ran,
                time.perf_counter() - standalone,
            )
            if applying is None:
                # The last pass allowed ends the task whatever arrives: the next task carries on.
                cut_short = number == MAX_PASSES and workloads_changed_since(organization_id, loaded_at)
                memory.in_burst = carrying or cut_short
                break
        finished = applying is None
        return report
    finally:
        if applying is not None:
            wait([applying.outcomes])  # a pass failed after starting applies: the next records them again
        _keep_rows(organization_id, lease, rows if finished else None)
        release(lease)


def _kept_rows(organization_id: str, lease: HeldLease) -> FederationRows | None:
    """The rows this process's last task of the organization left, if no other worker has held
    its lease since (taken once more since then: this take)."""
    with _memories_lock:
        kept = _rows_kept.pop(organization_id, None)
    if kept is None or kept[0] + 1 != lease.takes:
        return None
    return kept[1]


def _keep_rows(organization_id: str, lease: HeldLease, rows: FederationRows | None) -> None:
    """Keep what a task that ended well left (a task that failed part-way keeps nothing)."""
    if rows is None:
        return
    with _memories_lock:
        _rows_kept[organization_id] = (lease.takes, rows)
        while len(_rows_kept) > ROWS_KEPT:
            _rows_kept.popitem(last=False)


def _memory(organization_id: str) -> _Memory:
    """What this process remembers of the organization's passes (only the lease holder runs them,
    so one task at a time uses it)."""
    with _memories_lock:
        memory = _memories.pop(organization_id, None) or _Memory()
        _memories[organization_id] = memory
        while len(_memories) > STATUS_MEMOS:
            _memories.popitem(last=False)
        if len(_memories) > DECISION_MEMOS:
            # The organization this one pushed out of the most recent ones forgets its answers.
            list(_memories.values())[-DECISION_MEMOS - 1].decisions = scheduling.DecisionMemo()
        return memory


def _run(
    rows: FederationRows,
    lease: HeldLease,
    now: datetime,
    previous: Applying | None,
    more_work: Callable[[], bool],
    *,
    first: bool = True,
    decisions: scheduling.DecisionMemo | None = None,
) -> tuple[PassReport, Applying | None]:
    """One pass; with the applies of the pass before still running (``previous``), their outcomes
    are recorded before this pass acts. The task's ``first`` pass decides every workload, the
    passes after it only those not steady (``scheduling.decide_all``). Returns the report and the
    applies this pass left running (None when it waited for them)."""
    started = time.perf_counter()
    organization_id = rows.organization_id
    if not rows.workloads:
        if previous is not None:
            wait([previous.outcomes])
        return PassReport(organization_id, clusters=len(rows.clusters)), None
    # Members' clients are kept per process while their credentials hold (clusters.kube.access),
    # so a pass neither builds nor closes them.
    kinds = {str(workload.kind) for workload in rows.workloads.values()}
    graces = {workload.policy.grace_period_seconds for workload in rows.workloads.values()}
    observations = observe_members(
        list(rows.clusters.values()),
        set(rows.workloads),
        kinds,
        _applied(rows),
        following=not first,
        answered_within=liveness_seconds(graces, following=not first),
        status_kinds=status_kinds(rows.workloads.values()),
    )
    placements_sync(rows, observations, now)
    autoscaled_totals_follow(rows, now)  # before deciding: the policy sees the counts the HPAs chose
    lease.renew()
    inventories = {key: observation.inventory for key, observation in observations.items()}
    applied_before = previous.workload_ids if previous else frozenset()
    scheduling.decide_all(rows, inventories, now, steady_too=first, applying=applied_before, memo=decisions)
    placements_save(rows, now)
    lease.renew()
    # The outcomes of the pass before (if it left its applies running) are recorded before this
    # pass acts, so it applies nothing again; recording also forgets deleted workloads whose last
    # placement is gone, so it runs every pass.
    earlier = placement_outcomes_record(rows, previous.outcomes.result() if previous else [], now)
    actions = apply.actions_for(rows, observations)
    members = {key: observation.api for key, observation in observations.items()}
    applying = None
    if actions and more_work():
        workload_ids = frozenset(action.workload_id for action in actions)
        applying = Applying(apply.start(members, actions), workload_ids)
    elif actions:
        own = placement_outcomes_record(rows, apply.execute(members, actions), now)
        earlier = (earlier[0] + own[0], earlier[1] + own[1], earlier[2] + own[2])
    unsettled = workload_statuses_save(rows)
    applied, removed, errors = earlier
    report = PassReport(
        organization_id,
        clusters=len(rows.clusters),
        reachable=sum(1 for o in observations.values() if o.reachable),
        workloads=len(rows.workloads),
        decisions=len(rows.decisions),
        applied=applied,
        removed=removed,
        errors=errors,
        unsettled=unsettled,
        seconds=round(time.perf_counter() - started, 3),
    )
    return report, applying


def _applied(rows: FederationRows) -> dict[str, set[str]]:
    """By cluster id, the workloads a pass applied there whose objects should still be there (not
    those of a finished Job, which its TTL may have removed)."""
    applied: dict[str, set[str]] = {}
    for key, placements in rows.placements.items():
        for placement in placements:
            finished = placement.state in TERMINAL_PLACEMENT_STATES
            if placement.replicas and placement.applied_generation and not finished:
                applied.setdefault(str(placement.cluster_id), set()).add(str(key))
    return applied
