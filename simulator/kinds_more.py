"""Defaulting and validation of StatefulSets, DaemonSets and CronJobs (apps/v1, batch/v1), as the
API server's registry strategies do them: the defaults clients read back, and 422 for a missing
selector or template, a selector missing its template, a CronJob without a valid schedule or with
a pod that restarts ``Always``, and a changed selector."""

from __future__ import annotations

from typing import Any

from simulator.errors import invalid
from simulator.resources import CRONJOBS, DAEMONSETS, STATEFULSETS, ResourceType
from simulator.schedule import CronError, parse_schedule
from simulator.selectors import selector_from_object
from simulator.store import JsonObject

MORE_WORKLOADS = (STATEFULSETS, DAEMONSETS, CRONJOBS)


def default_more(resource: ResourceType, obj: JsonObject, default_pod_spec: Any) -> None:
    spec = obj.setdefault("spec", {})
    if resource is STATEFULSETS:
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        spec.setdefault(
            "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
        )
        default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    elif resource is DAEMONSETS:
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault(
            "updateStrategy",
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
        )
        default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
    else:
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        job_spec.setdefault("backoffLimit", 6)
        default_pod_spec(job_spec.setdefault("template", {}).setdefault("spec", {}))
    obj["status"] = {}
    if resource is DAEMONSETS:
        # Four counts of DaemonSetStatus are not omitempty: a new DaemonSet reads them as 0 (the
        # official client refuses a status without them).
        obj["status"] = dict.fromkeys(
            ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"), 0
        )


def validate_more(
    resource: ResourceType, obj: JsonObject, old: JsonObject | None, validate_pod_spec: Any
) -> None:
    name = obj["metadata"]["name"]
    spec = obj.get("spec") or {}
    if resource is CRONJOBS:
        _validate_cronjob(name, spec, validate_pod_spec)
        return
    selector = spec.get("selector")
    template = spec.get("template") or {}
    if not selector:
        raise invalid(resource.kind, name, resource.group, [("spec.selector", "Required value")])
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector_from_object(selector).matches(labels):
        raise invalid(
            resource.kind,
            name,
            resource.group,
            [
                (
                    "spec.template.metadata.labels",
                    f"Invalid value: {labels}: `selector` does not match template `labels`",
                )
            ],
        )
    restart = (template.get("spec") or {}).get("restartPolicy")
    if restart not in (None, "Always"):
        raise invalid(
            resource.kind,
            name,
            resource.group,
            [
                (
                    "spec.template.spec.restartPolicy",
                    f'Unsupported value: "{restart}": supported values: "Always"',
                )
            ],
        )
    validate_pod_spec(resource.kind, name, resource.group, template.get("spec") or {}, "spec.template.spec")
    if old is not None and (old.get("spec") or {}).get("selector") != selector:
        raise invalid(
            resource.kind, name, resource.group, [("spec.selector", "Invalid value: field is immutable")]
        )


def _validate_cronjob(name: str, spec: JsonObject, validate_pod_spec: Any) -> None:
    group = CRONJOBS.group
    schedule = spec.get("schedule")
    if not schedule:
        raise invalid("CronJob", name, group, [("spec.schedule", "Required value")])
    try:
        parse_schedule(str(schedule))
    except CronError as error:
        raise invalid(
            "CronJob", name, group, [("spec.schedule", f'Invalid value: "{schedule}": {error}')]
        ) from None
    template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    restart = (template.get("spec") or {}).get("restartPolicy")
    if restart not in ("Never", "OnFailure"):
        raise invalid(
            "CronJob",
            name,
            group,
            [
                (
                    "spec.jobTemplate.spec.template.spec.restartPolicy",
                    f'Unsupported value: "{restart}": supported values: "OnFailure", "Never"',
                )
            ],
        )
    validate_pod_spec(
        "CronJob", name, group, template.get("spec") or {}, "spec.jobTemplate.spec.template.spec"
    )
