"""The kind's own status fields of a federated StatefulSet, DaemonSet or CronJob, aggregated from
what each member reported (``Placement.member_status``), as Karmada's interpreter aggregates them:

- StatefulSet: ``replicas``, ``readyReplicas``, ``availableReplicas``, ``currentReplicas`` and
  ``updatedReplicas`` summed; ``updateRevision`` the members' (the pod template is the same in
  every member, so is its revision), and ``currentRevision`` equal to it once every member rolled
  it out — what ``kubectl rollout status statefulset`` waits for.
- DaemonSet: ``desiredNumberScheduled``, ``currentNumberScheduled``, ``numberReady``,
  ``numberAvailable``, ``numberUnavailable``, ``updatedNumberScheduled`` and
  ``numberMisscheduled`` summed (``kubectl rollout status daemonset`` compares the updated and
  available counts with the desired one).
- CronJob: ``lastScheduleTime`` and ``lastSuccessfulTime`` the latest of any member, ``active``
  every member's running Jobs.

``observedGeneration`` and conditions are the caller's (the same rule for every kind).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from policies.models import KubeObject, Placement, Workload, WorkloadKind

Json = dict[str, Any]
_STATEFULSET_COUNTS = ("replicas", "readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas")
_DAEMONSET_COUNTS = (
    "desiredNumberScheduled",
    "currentNumberScheduled",
    "numberReady",
    "numberAvailable",
    "numberUnavailable",
    "updatedNumberScheduled",
    "numberMisscheduled",
)


def _sum(statuses: Sequence[Json], fields: Sequence[str]) -> Json:
    return {field: sum(int(s.get(field) or 0) for s in statuses) for field in fields}


def kind_status(kobj: KubeObject, workload: Workload, live: Sequence[Placement], *, rolled_out: bool) -> Json:
    """``live`` are the placements with replicas; ``rolled_out`` when each runs the current generation."""
    statuses = [dict(p.member_status or {}) for p in live]
    if workload.kind == WorkloadKind.STATEFULSET:
        return _statefulset(kobj, statuses, rolled_out=rolled_out)
    if workload.kind == WorkloadKind.DAEMONSET:
        return _sum(statuses, _DAEMONSET_COUNTS)
    return _cronjob(statuses)


def _statefulset(kobj: KubeObject, statuses: Sequence[Json], *, rolled_out: bool) -> Json:
    status = _sum(statuses, _STATEFULSET_COUNTS)
    updates = Counter(str(s["updateRevision"]) for s in statuses if s.get("updateRevision"))
    if not updates:
        return status
    update = updates.most_common(1)[0][0]
    done = rolled_out and all(
        s.get("updateRevision") == update and s.get("currentRevision") == update for s in statuses
    )
    previous = str((kobj.status or {}).get("currentRevision") or "")
    members = [str(s["currentRevision"]) for s in statuses if s.get("currentRevision")]
    status["updateRevision"] = update
    status["currentRevision"] = update if done else previous or (members[0] if members else update)
    return status


def _cronjob(statuses: Sequence[Json]) -> Json:
    status: Json = {}
    for field in ("lastScheduleTime", "lastSuccessfulTime"):
        times = [str(s[field]) for s in statuses if s.get(field)]
        if times:
            status[field] = max(times)  # RFC 3339 in UTC: text order is time order
    active = [ref for s in statuses for ref in s.get("active") or []]
    if active:
        status["active"] = active
    return status
