"""Graceful deletion of pods, as kube-apiserver decides it.

apiserver's `rest.BeforeDelete` with the pod strategy's `CheckGracefulDelete`
(pkg/registry/core/pod/strategy.go):

- the grace period is `gracePeriodSeconds` of the request, else the pod's
  `spec.terminationGracePeriodSeconds` (defaulted to 30 on create); a negative one counts as 1;
- an unscheduled pod, or one already Succeeded/Failed, is deleted at once (period 0), and so is
  any pod deleted with period 0 (`kubectl delete --grace-period=0 --force`: "Setting the grace
  period to 0 forcibly and immediately deletes the Pod from the API server",
  https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination-forced);
- otherwise the pod is only marked: `deletionTimestamp` = now + period (the time after which it
  is considered dead), `deletionGracePeriodSeconds` = period, and `generation` moves on; it stays
  (Terminating) until its kubelet has stopped the containers and deletes it with period 0;
- a pod already terminating can only have its grace period shortened (the deadline moves by the
  difference); a longer or equal one changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.clock import parse_timestamp
from simulator.store import JsonObject


@dataclass(frozen=True)
class GracefulPlan:
    """`period` None: nothing to change (deletion already pending); 0: delete now (or, with
    finalizers, mark deleted and wait for them); more: mark the pod Terminating until `deadline`."""

    period: int | None
    deadline: float = 0.0


PENDING = GracefulPlan(None)


def plan_pod_deletion(pod: JsonObject, requested: int | None, now: float) -> GracefulPlan:
    meta = pod["metadata"]
    if requested is not None and requested < 0:
        requested = 1
    if meta.get("deletionTimestamp"):
        existing = meta.get("deletionGracePeriodSeconds")
        if not existing:
            return GracefulPlan(0, now)
        if requested is not None and requested < existing:
            deadline = parse_timestamp(meta["deletionTimestamp"]) - existing + requested
            return GracefulPlan(requested, deadline)
        return PENDING
    spec = pod.get("spec") or {}
    if requested is not None:
        period = requested
    else:
        period = int(spec.get("terminationGracePeriodSeconds") or 0)
    if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        period = 0
    if period < 0:
        period = 1
    return GracefulPlan(period, now + period)
