"""A federated workload object's status on the endpoint, from its workload and placements: each
kind's counts (``kind_status`` for StatefulSets, DaemonSets and CronJobs), the conditions kubectl,
Argo CD and Flux read (a Deployment's ``Progressing`` as the deployment controller keeps it,
``progress``), and the per-cluster breakdown (kept as ``status.clusters``, served as the ``nodeless.io/clusters``
annotation: ``store.render``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from policies.kubeapi import progress
from policies.kubeapi.kind_status import kind_status
from policies.models import KubeObject, Placement, Workload, WorkloadKind, WorkloadStatus

Json = dict[str, Any]


def _condition(kind: str, status: bool, reason: str, message: str) -> Json:
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message}


def _clusters(placements: Iterable[Placement]) -> list[Json]:
    return [
        {
            "name": p.cluster.name,
            "replicas": p.replicas,
            "readyReplicas": p.ready_replicas,
            "availableReplicas": p.available_replicas,
            "state": p.state,
            **({"succeeded": p.succeeded, "failed": p.failed} if p.succeeded or p.failed else {}),
            **({"reason": p.reason} if p.reason else {}),
        }
        for p in placements
        if p.replicas or p.succeeded or p.failed
    ]


def workload_status(kobj: KubeObject, workload: Workload, placements: list[Placement]) -> Json:
    live = [p for p in placements if p.replicas]
    current = [
        p for p in live if p.applied_generation == workload.generation and p.applied_replicas == p.replicas
    ]
    rolled_out = len(current) == len(live) and workload.status != WorkloadStatus.PENDING
    observed = kobj.generation if rolled_out else int(kobj.status.get("observedGeneration") or 0)
    federated = _condition(
        "Federated",
        workload.status in (WorkloadStatus.RUNNING, WorkloadStatus.COMPLETED),
        workload.status.title(),
        workload.status_message,
    )
    if workload.kind == WorkloadKind.JOB:
        return _job_status(workload, observed, federated, placements)
    if workload.kind != WorkloadKind.DEPLOYMENT:
        own = kind_status(kobj, workload, live, rolled_out=rolled_out)
        return {
            "observedGeneration": observed,
            **own,
            "conditions": [federated],
            "clusters": _clusters(placements),
        }
    replicas = sum(p.replicas for p in live)
    updated = sum(p.replicas for p in current)
    available = min(workload.available_replicas, replicas)
    complete = rolled_out and available >= workload.desired_replicas
    status: Json = {
        "observedGeneration": observed,
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": min(workload.ready_replicas, replicas),
        "availableReplicas": available,
        "unavailableReplicas": max(0, replicas - available),
    }
    progressing = progress.condition(
        kobj.name,
        workload.manifest.get("spec") or {},
        kobj.status or {},
        status,
        complete=complete,
        message=workload.status_message,
        now=timezone.now(),
    )
    available_condition = _condition(
        "Available",
        available >= workload.desired_replicas,
        "MinimumReplicasAvailable"
        if available >= workload.desired_replicas
        else "MinimumReplicasUnavailable",
        f"{available}/{workload.desired_replicas} replicas available over the members",
    )
    status["conditions"] = [available_condition, progressing, federated]
    status["clusters"] = _clusters(placements)
    return {k: v for k, v in status.items() if v != 0 or k in ("observedGeneration", "replicas")}


def _job_status(workload: Workload, observed: int, federated: Json, placements: list[Placement]) -> Json:
    status: Json = {
        "observedGeneration": observed,
        "active": workload.ready_replicas
        if workload.status not in (WorkloadStatus.COMPLETED, WorkloadStatus.FAILED)
        else 0,
        "succeeded": workload.succeeded,
        "failed": workload.failed,
        "conditions": [federated],
        "clusters": _clusters(placements),
    }
    # When it started (its first member's start) and, complete, when it completed (its last one's),
    # as Karmada aggregates them: kubectl describe prints both, and Flux's health check (kstatus)
    # counts a Job without a start as not started.
    reported = [p.member_status or {} for p in placements]
    starts = sorted(str(s["startTime"]) for s in reported if s.get("startTime"))
    if starts:
        status["startTime"] = starts[0]
    if workload.status == WorkloadStatus.COMPLETED:
        status["conditions"].insert(
            0, _condition("Complete", status=True, reason="Completed", message=workload.status_message)
        )
        ends = sorted(str(s["completionTime"]) for s in reported if s.get("completionTime"))
        if ends:
            status["completionTime"] = ends[-1]
    elif workload.status == WorkloadStatus.FAILED:
        status["conditions"].insert(
            0, _condition("Failed", status=True, reason="MemberFailed", message=workload.status_message)
        )
    return status
