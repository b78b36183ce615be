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
4. Metering: each node is billed per second from launch to release with the minimum charge
   (`metering`).

Nothing is consolidated: a running pod is never moved, and a node goes away only when empty.
With a scale-down delay of zero an empty node goes at once, so the only cost left above the
planner's choices is fragmentation: a node keeps its price while some of its pods are gone.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

from billing.replay.cluster import NodeFactory, SimNode, footprint
from billing.replay.metering import billed_seconds, cost_series, usage_by_capacity_type
from billing.replay.model import MeteredNode, ReplayPod, ReplayResult, Timing
from billing.replay.planning import ReplayPlanner
from billing.replay.scheduling import Scheduler
from workers.planner import Catalog, ExistingNode, OfferingChoice, Plan, PlannerPolicy, Resources, Unschedulable

# Event kinds, in the order they are handled at one instant.
_DEPART, _ARRIVE, _RELEASE = 0, 1, 2


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
    daemonset_overhead: Resources = Resources(),
) -> ReplayResult:
    """Replay `pods` (see the module docstring). `initial_nodes` are running and ready from the
    first arrival on, like a pre-provisioned node pool."""
    return _Replay(tuple(pods), catalog, policy, timing, initial_nodes, daemonset_overhead).run()


class _Replay:
    def __init__(
        self,
        pods: tuple[ReplayPod, ...],
        catalog: Catalog,
        policy: PlannerPolicy,
        timing: Timing,
        initial_nodes: Sequence[OfferingChoice],
        daemonset_overhead: Resources,
    ) -> None:
        self.pods = {pod.uid: pod for pod in pods}
        if len(self.pods) != len(pods):
            raise ValueError("pod uids must be unique")
        self.policy = policy
        self.timing = timing
        self.planner = ReplayPlanner(catalog, policy, daemonset_overhead)
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
        end = origin
        while self._events:
            time, kind, _, payload = heapq.heappop(self._events)
            end = max(end, time)
            if kind == _DEPART:
                assert isinstance(payload, str)
                self._depart(payload, time)
            elif kind == _ARRIVE:
                assert isinstance(payload, list)
                self._arrive(payload, time)
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
        node = self.node_of.pop(uid)
        node.remove(uid, footprint(self.pods[uid].request), now)
        if node.pods:
            return
        if node.serverless:
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
        candidates = list(self.live_vms.values())
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
            boot = self.timing.serverless_boot if launch.serverless else self.timing.boot_seconds
            node = self.factory.create(launch.chosen, now, now + boot, launch.reserved_for_pod)
            self._add_node(node)
            for uid in launch.pod_uids:
                self._start(uid, node, now)
        self.unplaced.extend(result.unschedulable)

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
        self.pods_run += 1
        self.start_delay += start - pod.arrival
        self._push(start + pod.duration, _DEPART, uid)

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
