"""CronJob → Jobs: at each time ``spec.schedule`` fires (UTC) since the last one, create a Job from
``spec.jobTemplate`` named ``<name>-<minutes since the epoch>``; ``concurrencyPolicy`` Allow,
Forbid (skip while one is active) or Replace (delete the active ones); ``suspend``; keep
``successfulJobsHistoryLimit``/``failedJobsHistoryLimit`` finished Jobs. Status: ``active`` (object
references), ``lastScheduleTime``, ``lastSuccessfulTime``. Only the most recent missed time runs,
as the real controller does after downtime (``startingDeadlineSeconds`` is not modelled)."""

from __future__ import annotations

import contextlib
import json

from simulator.api import ClusterApi
from simulator.clock import format_timestamp, parse_timestamp
from simulator.controllers.jobs import _finished_condition
from simulator.controllers.workloads import owned, owner_reference
from simulator.errors import ApiError
from simulator.resources import CRONJOBS, JOBS
from simulator.schedule import CronError, parse_schedule
from simulator.store import JsonObject

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"


class CronJobController:
    name = "cronjob-controller"
    watches = frozenset({CRONJOBS.key, JOBS.key})

    def __init__(self, api: ClusterApi) -> None:
        self.api = api

    def reconcile(self, now: float) -> float | None:
        due: list[float] = []
        for stored in self.api.store.list(CRONJOBS).items:
            cronjob = stored.obj
            if cronjob["metadata"].get("deletionTimestamp"):
                continue
            with contextlib.suppress(CronError):
                next_time = self._sync(cronjob, now)
                if next_time is not None:
                    due.append(next_time)
        return min(due) if due else None

    def _sync(self, cronjob: JsonObject, now: float) -> float | None:
        spec, status = cronjob["spec"], dict(cronjob.get("status") or {})
        schedule = parse_schedule(str(spec["schedule"]))
        jobs = owned(self.api, JOBS, cronjob)
        active = [j for j in jobs if _finished_condition(j) is None]
        finished = [j for j in jobs if j not in active]
        self._history(finished, spec)
        last = status.get("lastScheduleTime")
        since = parse_timestamp(last) if last else parse_timestamp(cronjob["metadata"]["creationTimestamp"])
        fire, upcoming = None, schedule.next_after(since)
        while upcoming <= now:
            fire, upcoming = upcoming, schedule.next_after(upcoming)
        if fire is not None and not spec.get("suspend"):
            policy = spec.get("concurrencyPolicy", "Allow")
            if policy == "Forbid" and active:
                fire = None
            else:
                if policy == "Replace":
                    for job in active:
                        self._delete(job)
                    active = []
                created = self._create(cronjob, fire)
                if created is not None:
                    active.append(created)
                status["lastScheduleTime"] = format_timestamp(fire)
        succeeded = [
            (j.get("status") or {}).get("completionTime")
            for j in finished
            if _finished_condition(j) == "Complete"
        ]
        if succeeded:
            status["lastSuccessfulTime"] = max(t for t in succeeded if t)
        status["active"] = [
            {
                "kind": "Job",
                "apiVersion": "batch/v1",
                "name": j["metadata"]["name"],
                "namespace": j["metadata"]["namespace"],
                "uid": j["metadata"]["uid"],
            }
            for j in active
        ]
        if not status["active"]:
            status.pop("active")
        if status != (cronjob.get("status") or {}):
            meta = cronjob["metadata"]
            with contextlib.suppress(ApiError):
                self.api.update(
                    CRONJOBS,
                    meta["namespace"],
                    meta["name"],
                    lambda c: c.__setitem__("status", status),
                    subresource="status",
                )
        return upcoming

    def _create(self, cronjob: JsonObject, fire: float) -> JsonObject | None:
        template = json.loads(json.dumps(cronjob["spec"].get("jobTemplate") or {}))
        meta = cronjob["metadata"]
        body = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": f"{meta['name']}-{int(fire // 60)}",
                "namespace": meta["namespace"],
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "annotations": {
                    **((template.get("metadata") or {}).get("annotations") or {}),
                    SCHEDULED_ANNOTATION: format_timestamp(fire),
                },
                "ownerReferences": [owner_reference(cronjob)],
            },
            "spec": template.get("spec") or {},
        }
        try:
            return self.api.create(JOBS, meta["namespace"], body).obj
        except ApiError:
            return None  # already created for this time

    def _history(self, finished: list[JsonObject], spec: JsonObject) -> None:
        for outcome, limit in (
            ("Complete", int(spec.get("successfulJobsHistoryLimit", 3))),
            ("Failed", int(spec.get("failedJobsHistoryLimit", 1))),
        ):
            jobs = [j for j in finished if _finished_condition(j) == outcome]
            jobs.sort(key=lambda j: parse_timestamp(j["metadata"]["creationTimestamp"]))
            for job in jobs[: max(0, len(jobs) - limit)]:
                self._delete(job)

    def _delete(self, job: JsonObject) -> None:
        with contextlib.suppress(ApiError):
            self.api.delete(JOBS, job["metadata"]["namespace"], job["metadata"]["name"])
