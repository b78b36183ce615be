"""Calling the planner during a replay, without planning the same situation twice.

`plan()` is pure and depends on a pod only through its requests and constraints, never its
uid or name. So when no existing node is handed to it (none could hold any pending pod), a
batch of pending pods is planned as its canonical form - pods sorted by kind and renamed
by position - and the result is reused for every later batch of the same kinds, with the
real uids put back. Replays of long traces see the same few pod kinds over and over.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import fields, replace

from engines.planner import Catalog, ExistingNode, Plan, PlannerPolicy, PodRequest, Resources, Snapshot, plan

_IDENTITY_FIELDS = frozenset({"uid", "name"})

# Another provisioner's decision in place of the planner's (a baseline such as Karpenter's first-fit
# scheduling, `lab.planner.baseline.karpenter_plan`): same inputs, same plan shape.
PlanFunction = Callable[[Snapshot, PlannerPolicy, Catalog], Plan]


def _freeze(value: object) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted(value.items()))
    assert isinstance(value, Hashable)
    return value


def pod_kind(pod: PodRequest) -> tuple[Hashable, ...]:
    """Everything about a pod that the planner looks at (every field but its identity)."""
    return tuple(_freeze(getattr(pod, f.name)) for f in fields(PodRequest) if f.name not in _IDENTITY_FIELDS)


class ReplayPlanner:
    """`plan()` for one catalog, policy and daemonset overhead, memoized where that is exact."""

    def __init__(
        self,
        catalog: Catalog,
        policy: PlannerPolicy,
        daemonset_overhead: Resources,
        plan_with: PlanFunction | None = None,
    ) -> None:
        self.plan_with = plan_with
        self.catalog = catalog
        self.policy = policy
        self.daemonset_overhead = daemonset_overhead
        self.calls = 0
        self._kind_ids: dict[tuple[Hashable, ...], int] = {}
        self._memo: dict[tuple[int, ...], Plan] = {}

    def plan(
        self, pods: Sequence[PodRequest], existing: tuple[ExistingNode, ...], *, thorough: bool = True
    ) -> Plan:
        """`thorough` as in `engines.planner.plan`."""
        if existing:
            self.calls += 1
            return self._plan(self._snapshot(tuple(pods), existing), thorough)
        kinds = [self._kind_ids.setdefault(pod_kind(pod), len(self._kind_ids)) for pod in pods]
        order = tuple(sorted(range(len(pods)), key=lambda i: kinds[i]))
        key = (int(thorough), *(kinds[i] for i in order))
        canonical = self._memo.get(key)
        if canonical is None:
            self.calls += 1
            renamed = tuple(
                replace(pods[i], uid=str(position), name=str(position)) for position, i in enumerate(order)
            )
            canonical = self._plan(self._snapshot(renamed, ()), thorough)
            self._memo[key] = canonical
        return _with_uids(canonical, [pods[i].uid for i in order])

    def _plan(self, snapshot: Snapshot, thorough: bool) -> Plan:
        if self.plan_with is not None:
            return self.plan_with(snapshot, self.policy, self.catalog)
        return plan(snapshot, self.policy, self.catalog, thorough=thorough)

    def _snapshot(self, pods: tuple[PodRequest, ...], existing: tuple[ExistingNode, ...]) -> Snapshot:
        return Snapshot(
            pods=pods,
            existing_nodes=existing,
            daemonset_overhead=self.daemonset_overhead,
            region=self.catalog.region,
        )


def _with_uids(canonical: Plan, uids: list[str]) -> Plan:
    def real(uid: str) -> str:
        return uids[int(uid)]

    return replace(
        canonical,
        launches=tuple(
            replace(
                launch,
                pod_uids=tuple(real(uid) for uid in launch.pod_uids),
                reserved_for_pod=None if launch.reserved_for_pod is None else real(launch.reserved_for_pod),
            )
            for launch in canonical.launches
        ),
        bindings=tuple(replace(binding, pod_uid=real(binding.pod_uid)) for binding in canonical.bindings),
        unschedulable=tuple(replace(item, pod_uid=real(item.pod_uid)) for item in canonical.unschedulable),
    )
