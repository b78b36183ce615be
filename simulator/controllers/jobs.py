"""Job → pods: run up to `parallelism` pods until `completions` succeed, or fail the job after
`backoffLimit` failed pods; honour `suspend` and `ttlSecondsAfterFinished`."""

from __future__ import annotations

import contextlib
from typing import Any

from simulator.api import ClusterApi
from simulator.clock import format_timestamp, parse_timestamp
from simulator.controllers.workloads import owned, pod_from_template, update_status_if_changed
from simulator.disruption import is_pod_ready
from simulator.errors import ApiError
from simulator.resources import JOBS, PODS
from simulator.store import JsonObject


def _finished_condition(job: JsonObject) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            kind: str = condition["type"]
            return kind
    return None


class JobController:
    name = "job-controller"
    watches = frozenset({JOBS.key, PODS.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api

    def reconcile(self, now: float) -> float | None:
        due: list[float] = []
        for stored in self.api.store.list(JOBS).items:
            job = stored.obj
            if job["metadata"].get("deletionTimestamp"):
                continue
            finished = _finished_condition(job)
            if finished is not None:
                expiry = self._expire(job, now)
                if expiry is not None:
                    due.append(expiry)
                continue
            self._sync(job, now)
        return min(due) if due else None

    def _expire(self, job: JsonObject, now: float) -> float | None:
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        completion = (job.get("status") or {}).get("completionTime")
        if ttl is None or not completion:
            return None
        expires_at = parse_timestamp(completion) + float(ttl)
        if now < expires_at:
            return expires_at
        with contextlib.suppress(ApiError):
            self.api.delete(JOBS, job["metadata"]["namespace"], job["metadata"]["name"])
        return None

    def _sync(self, job: JsonObject, now: float) -> None:
        spec = job["spec"]
        namespace = job["metadata"]["namespace"]
        pods = owned(self.api, PODS, job)
        succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        completions = int(spec.get("completions") or 1)
        status: dict[str, Any] = {
            "startTime": (job.get("status") or {}).get("startTime") or format_timestamp(now),
            "succeeded": succeeded,
            "failed": failed,
            "terminating": 0,
        }
        conditions: list[JsonObject] = []
        if failed > int(spec.get("backoffLimit", 6)):
            conditions = [
                _job_condition(
                    "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", now
                )
            ]
            self._delete_pods(namespace, active)
            active = []
        elif succeeded >= completions:
            conditions = [
                _job_condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                ),
                _job_condition(
                    "Complete", "CompletionsReached", "Reached expected number of succeeded pods", now
                ),
            ]
            status["completionTime"] = format_timestamp(now)
            self._delete_pods(namespace, active)
            active = []
        elif spec.get("suspend"):
            self._delete_pods(namespace, active)
            active = []
            conditions = [_job_condition("Suspended", "JobSuspended", "Job suspended", now)]
        else:
            wanted = min(int(spec.get("parallelism", 1)), completions - succeeded)
            template = spec.get("template") or {}
            for _ in range(wanted - len(active)):
                active.append(self.api.create(PODS, namespace, pod_from_template(job, template)).obj)
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_pod_ready(p))
        if conditions:
            status["conditions"] = conditions
        update_status_if_changed(self.api, JOBS, job, status)

    def _delete_pods(self, namespace: str, pods: list[JsonObject]) -> None:
        for pod in pods:
            with contextlib.suppress(ApiError):
                self.api.delete(PODS, namespace, pod["metadata"]["name"])


def _job_condition(condition_type: str, reason: str, message: str, now: float) -> JsonObject:
    timestamp = format_timestamp(now)
    return {
        "type": condition_type,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": timestamp,
        "lastTransitionTime": timestamp,
    }
