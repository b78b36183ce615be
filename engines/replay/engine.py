"""`replay()`: run pods with known lifetimes through the planner in simulated time and meter
every node it launches.

The replay is event-driven; at one instant departures come first (they free capacity), then
arrivals, then releases (so a pod arriving exactly when an empty node's delay runs out
still gets it):

1. Arrival of a batch (the pods created at one instant): the simulated kube-scheduler binds
   each pod it can to a ready node with room (`scheduling`); the planner gets the pods left
   pending and the live nodes' free capacity, booting nodes included (existing nodes first).
   Nodes that cannot hold any pending pod are left out of its snapshot (nothing could bind
   to them) unless the policy has limits, which count every node.
2. Apply the plan: a pod bound to a ready node starts at once, one bound to a booting node
   when it is ready; each launch creates a node ready `boot_seconds` later (serverless pods
   `serverless_boot_seconds` later) whose pods start then. Every pod then runs its full trace
   duration, so a late node shifts the pod's end. Pods the planner cannot place are recorded
   with its reason and never run.
3. Departure: the pod frees its share of the node. A serverless micro-VM ends with its pod;
   a node left empty is released once it has stayed empty for the scale-down delay (never,
   for a static pool).
4. Consolidation (optional, `consolidation`): every interval the pods of long-running nodes are
   re-packed when that is clearly cheaper; replaced nodes are cordoned, their pods move when
   the replacements are ready, and the drained nodes go at once. Without it a running pod is
   never moved and a node goes only when empty, so the planner's choices for one arrival at
   a time stay as they were, however the pods around them change.
5. Metering: each node is billed per second from launch to release with the minimum charge
   (`metering`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from engines.planner import (
    Catalog,
    ExistingNode,
    Launch,
    OfferingChoice,
    Plan,
    PlannerPolicy,
    Resources,
    Unschedulable,
)
from engines.replay.cluster import NodeFactory, SimNode, footprint
from engines.replay.consolidation import Consolidation, candidate_groups, repack
from engines.replay.metering import billed_seconds, cost_series, usage_by_capacity_type
from engines.replay.model import NO_OVERHEAD, MeteredNode, ReplayPod, ReplayResult, Timing
from engines.replay.planning import PlanFunction, ReplayPlanner
from engines.replay.scheduling import Scheduler

# Event kinds, in the order they are handled at one instant.
_DEPART, _MOVE, _ARRIVE, _CONSOLIDATE, _RELEASE = range(5)


def _has_limits(policy: PlannerPolicy) -> bool:
    limits = policy.limits
    return not (limits.max_vcpu is None and limits.max_nodes is None and limits.max_cost_per_hour is None)


def replay(
    pods: Iterable[ReplayPod],
    catalog: Catalog,
    policy: PlannerPolicy,
    timing: Timing,
    *,
    initial_nodes: Sequence[OfferingChoice] = (),
    daemonset_overhead: Resources = NO_OVERHEAD,
    consolidation: Consolidation | None = None,
    plan_with: PlanFunction | None = None,
) -> ReplayResult:
    """Replay `pods` (see the module docstring). `initial_nodes` are running and ready from the
    first arrival on, like a pre-provisioned node pool. `plan_with` decides launches (and
    consolidation's replacements) instead of the planner: a baseline provisioner on the same trace."""
    return _Replay(
        tuple(pods), catalog, policy, timing, initial_nodes, daemonset_overhead, consolidation, plan_with
    ).run()


class _Replay:
    def __init__(
        self,
        pods: tuple[ReplayPod, ...],
        catalog: Catalog,
        policy: PlannerPolicy,
        timing: Timing,
        initial_nodes: Sequence[OfferingChoice],
        daemonset_overhead: Resources,
        consolidation: Consolidation | None,
        plan_with: PlanFunction | None = None,
    ) -> None:
        self.pods = {pod.uid: pod for pod in pods}
        if len(self.pods) != len(pods):
            raise ValueError("pod uids must be unique")
        self.policy = policy
        self.timing = timing
        self.planner = ReplayPlanner(catalog, policy, daemonset_overhead, plan_with)
        self.factory = NodeFactory(catalog, policy, daemonset_overhead)
        self.initial_nodes = tuple(initial_nodes)
        self.scheduler = Scheduler(policy, {t.name: t.gpu_model for t in catalog.instance_types})
        self.nodes: list[SimNode] = []
        self.by_name: dict[str, SimNode] = {}
        self.live_vms: dict[str, SimNode] = {}
        self.node_of: dict[str, SimNode] = {}
        self.unplaced: list[Unschedulable] = []
        self.start_delay = 0.0
        self.pods_run = 0
        self.started_at: dict[str, float] = {}
        self.consolidation = consolidation
        self.moving: dict[str, SimNode] = {}  # pod -> the node it moves to once that is ready
        self.consolidations = 0
        self.pods_moved = 0
        self._last_arrival = max((pod.arrival for pod in pods), default=0.0)
        self._events: list[tuple[float, int, int, object]] = []
        self._sequence = 0

    def _push(self, time: float, kind: int, payload: object) -> None:
        self._sequence += 1
        heapq.heappush(self._events, (time, kind, self._sequence, payload))

    def run(self) -> ReplayResult:
        origin = min((pod.arrival for pod in self.pods.values()), default=0.0)
        for choice in self.initial_nodes:
            self._add_node(self.factory.create(choice, origin, origin, None))
        batches: dict[float, list[ReplayPod]] = {}
        for pod in self.pods.values():
            batches.setdefault(pod.arrival, []).append(pod)
        for time, batch in batches.items():
            self._push(time, _ARRIVE, batch)
        if self.consolidation is not None:
            self._push(origin + self.consolidation.interval_seconds, _CONSOLIDATE, None)
        end = origin
        while self._events:
            time, kind, _, payload = heapq.heappop(self._events)
            if kind != _CONSOLIDATE:
                end = max(end, time)
            if kind == _DEPART:
                assert isinstance(payload, str)
                self._depart(payload, time)
            elif kind == _MOVE:
                assert isinstance(payload, str)
                self._move(payload, time)
            elif kind == _ARRIVE:
                assert isinstance(payload, list)
                self._arrive(payload, time)
            elif kind == _CONSOLIDATE:
                self._consolidate(time)
            else:
                assert isinstance(payload, tuple)
                self._release_if_still_empty(payload[0], payload[1], time)
        return self._result(origin, end)

    # Events ----------------------------------------------------------------------------------
    def _arrive(self, batch: list[ReplayPod], now: float) -> None:
        pending = []
        for pod in batch:
            node = self.scheduler.choose(pod.request, self.live_vms.values(), now)
            if node is None:
                pending.append(pod)
            else:
                self._start(pod.uid, node, now)
        if pending:
            result = self.planner.plan([pod.request for pod in pending], self._existing_for(pending, now))
            self._apply(result, now)

    def _depart(self, uid: str, now: float) -> None:
        self._leave(self.node_of.pop(uid), uid, now)
        destination = self.moving.pop(uid, None)
        if destination is not None:
            self._leave(destination, uid, now)

    def _leave(self, node: SimNode, uid: str, now: float) -> None:
        node.remove(uid, footprint(self.pods[uid].request), now)
        if node.pods:
            return
        if node.serverless or node.cordoned:
            self._release(node, now)
        elif self.timing.scale_down_seconds is not None:
            self._push(now + self.timing.scale_down_seconds, _RELEASE, (node, now))

    def _release_if_still_empty(self, node: SimNode, empty_since: float, now: float) -> None:
        if node.live and not node.pods and node.empty_since == empty_since:
            self._release(node, now)

    def _release(self, node: SimNode, now: float) -> None:
        node.released_at = now
        self.live_vms.pop(node.name, None)

    # Planning --------------------------------------------------------------------------------
    def _existing_for(self, batch: list[ReplayPod], now: float) -> tuple[ExistingNode, ...]:
        candidates = [node for node in self.live_vms.values() if not node.cordoned]
        if _has_limits(self.policy):
            return tuple(node.as_existing(now) for node in candidates)
        needs = [footprint(pod.request) for pod in batch]
        return tuple(
            node.as_existing(now)
            for node in candidates
            if node.reserved_for_pod is None and any(need.fits_in(node.free) for need in needs)
        )

    def _apply(self, result: Plan, now: float) -> None:
        for binding in result.bindings:
            self._start(binding.pod_uid, self.by_name[binding.node_name], now)
        for launch in result.launches:
            node = self._launch(launch, now)
            for uid in launch.pod_uids:
                self._start(uid, node, now)
        self.unplaced.extend(result.unschedulable)

    def _launch(self, launch: Launch, now: float) -> SimNode:
        boot = self.timing.serverless_boot if launch.serverless else self.timing.boot_seconds
        node = self.factory.create(launch.chosen, now, now + boot, launch.reserved_for_pod)
        self._add_node(node)
        return node

    def _add_node(self, node: SimNode) -> None:
        self.nodes.append(node)
        self.by_name[node.name] = node
        if not node.serverless:
            self.live_vms[node.name] = node

    def _start(self, uid: str, node: SimNode, now: float) -> None:
        pod = self.pods[uid]
        start = max(now, node.ready_at)
        node.add(uid, footprint(pod.request))
        self.node_of[uid] = node
        self.started_at[uid] = start
        self.pods_run += 1
        self.start_delay += start - pod.arrival
        self._push(start + pod.duration, _DEPART, uid)

    # Consolidation -------------------------------------------------------------------------
    def _consolidate(self, now: float) -> None:
        assert self.consolidation is not None
        if self.node_of or now < self._last_arrival:
            self._push(now + self.consolidation.interval_seconds, _CONSOLIDATE, None)
        for group in candidate_groups(self.live_vms.values(), self.started_at, now, self.consolidation):
            requests = {uid: self.pods[uid].request for node in group for uid in node.pods}
            repacking = repack(group, requests, self.planner, self.consolidation)
            if repacking is None:
                continue
            self.consolidations += 1
            for node in repacking.replaced:
                node.cordoned = True
            for launch in repacking.launches:
                node = self._launch(launch, now)
                for uid in launch.pod_uids:
                    self._move_later(uid, node, now)

    def _move_later(self, uid: str, destination: SimNode, now: float) -> None:
        destination.add(uid, footprint(self.pods[uid].request))
        self.moving[uid] = destination
        self._push(max(now, destination.ready_at), _MOVE, uid)

    def _move(self, uid: str, now: float) -> None:
        destination = self.moving.pop(uid, None)
        if destination is None:
            return  # the pod ended before its new node was ready
        self._leave(self.node_of[uid], uid, now)
        self.node_of[uid] = destination
        self.pods_moved += 1

    # Metering --------------------------------------------------------------------------------
    def _result(self, origin: float, end: float) -> ReplayResult:
        metered = tuple(self._metered(node, end) for node in self.nodes)
        return ReplayResult(
            cost=sum(node.cost for node in metered),
            effective_cost=sum(node.effective_cost for node in metered),
            by_capacity_type=usage_by_capacity_type(metered),
            series=cost_series(metered, origin, self.timing.series_bucket_seconds),
            nodes=metered,
            unplaced=tuple(self.unplaced),
            pods_run=self.pods_run,
            start_delay_seconds=self.start_delay,
            plan_calls=self.planner.calls,
            consolidations=self.consolidations,
            pods_moved=self.pods_moved,
        )

    def _metered(self, node: SimNode, end: float) -> MeteredNode:
        released = node.released_at if node.released_at is not None else end
        choice = node.choice
        return MeteredNode(
            name=node.name,
            instance_type=choice.instance_type,
            zone=choice.zone,
            capacity_type=choice.capacity_type,
            price_per_hour=choice.price_per_hour,
            effective_price_per_hour=choice.effective_price_per_hour,
            launched_at=node.launched_at,
            ready_at=node.ready_at,
            released_at=released,
            billed_seconds=billed_seconds(node.launched_at, released, self.timing.minimum_billed_seconds),
            pods_served=node.pods_served,
        )
