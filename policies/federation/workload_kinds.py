"""What differs between the workload kinds Nodeless federates, written once: where the pod template
and the replica count live, what a manifest of each kind must hold, and how a member's share is
written into it.

- Deployment and StatefulSet: ``spec.replicas``, divided over the members by the policy.
- Job: ``spec.parallelism`` (and ``spec.completions``, divided alike).
- CronJob: its ``spec.jobTemplate.spec.parallelism``/``completions``, divided alike; each member
  runs the schedule for its share.
- DaemonSet: no replica count; the whole object is duplicated to every member the policy selects
  (Karmada propagates DaemonSets the same way), where it runs one pod per node. Its "replicas" in
  the placement rows is 1: the member holds one copy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from policies.federation.manifest_checks import (
    Problems,
    check_labels_selected,
    check_pod_spec,
    check_replicas,
    show,
)

Json = dict[str, Any]
WORKLOAD_KINDS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}
# Kinds whose pods run to completion (the engine's "job" kind).
BATCH_KINDS = ("Job", "CronJob")
# Kinds copied whole to every selected member rather than divided.
DUPLICATED_KINDS = ("DaemonSet",)


def job_spec(obj: Mapping[str, Any]) -> Any:
    """The Job spec of a Job or CronJob (``spec.jobTemplate.spec``); the spec for the other kinds."""
    spec = obj.get("spec")
    if obj.get("kind") == "CronJob" and isinstance(spec, Mapping):
        job_template = spec.get("jobTemplate")
        return job_template.get("spec") if isinstance(job_template, Mapping) else None
    return spec


def template_path(kind: str) -> str:
    return "spec.jobTemplate.spec.template" if kind == "CronJob" else "spec.template"


def pod_template(obj: Mapping[str, Any]) -> Json:
    spec = job_spec(obj)
    template = spec.get("template") if isinstance(spec, Mapping) else None
    return template if isinstance(template, dict) else {}


def check_workload(obj: Mapping[str, Any], problems: Problems) -> None:
    kind = str(obj["kind"])
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        problems.add("", "spec", "is required")
        return
    if kind == "CronJob":
        if not isinstance(spec.get("schedule"), str) or not spec["schedule"].strip():
            problems.add("", "spec.schedule", 'is required: a cron schedule, e.g. "*/5 * * * *"')
        if not isinstance(spec.get("jobTemplate"), Mapping) or not isinstance(job_spec(obj), Mapping):
            problems.add("", "spec.jobTemplate.spec", "is required: the Job each run creates")
            return
    path = template_path(kind)
    inner = job_spec(obj)
    template = inner.get("template")
    if not isinstance(template, Mapping):
        problems.add("", path, "is required: the pod template")
        template = {}
    if kind in BATCH_KINDS:
        prefix = "spec.jobTemplate." if kind == "CronJob" else ""
        check_replicas(inner.get("parallelism"), f"{prefix}spec.parallelism", "", problems, minimum=1)
        check_replicas(inner.get("completions"), f"{prefix}spec.completions", "", problems, minimum=1)
        policies: tuple[str, ...] = ("Never", "OnFailure")
        if isinstance(template.get("spec"), Mapping) and template["spec"].get("restartPolicy") is None:
            problems.add("", f"{path}.spec.restartPolicy", f"is required for a {kind}: Never or OnFailure")
    else:
        if kind != "DaemonSet":
            check_replicas(spec.get("replicas"), "spec.replicas", "", problems, minimum=0)
        check_labels_selected(spec, "", problems)
        _check_strategy(kind, spec, problems)
        policies = ("Always",)
    check_pod_spec(template.get("spec"), f"{path}.spec", "", problems, restart_policies=policies)


# Each kind's strategy field, its types, and the one whose parameters the others may not carry.
_STRATEGIES = {
    "Deployment": ("strategy", ("Recreate", "RollingUpdate")),
    "StatefulSet": ("updateStrategy", ("OnDelete", "RollingUpdate")),
    "DaemonSet": ("updateStrategy", ("OnDelete", "RollingUpdate")),
}


def _check_strategy(kind: str, spec: Mapping[str, Any], problems: Problems) -> None:
    """kube-apiserver's checks of the update strategy: a known type, and a rolling update's
    parameters only with a rolling update (``kubectl patch`` to Recreate must drop them)."""
    field, types = _STRATEGIES[kind]
    strategy = spec.get(field)
    if strategy is None:
        return
    if not isinstance(strategy, Mapping):
        problems.add("", f"spec.{field}", "must be a mapping with a type")
        return
    kind_of = strategy.get("type")
    if kind_of is not None and kind_of not in types:
        supported = ", ".join(f'"{t}"' for t in types)
        problems.add(
            "", f"spec.{field}.type", f"Unsupported value: {show(kind_of)}: supported values: {supported}"
        )
    elif kind_of not in (None, "RollingUpdate") and strategy.get("rollingUpdate") is not None:
        problems.add(
            "",
            f"spec.{field}.rollingUpdate",
            f"Forbidden: may not be specified when strategy `type` is '{kind_of}'",
        )


def replica_counts(obj: Mapping[str, Any]) -> tuple[int, int | None]:
    """(replicas, completions) of a checked workload: what the policy divides."""
    kind, spec = obj["kind"], obj["spec"]
    if kind == "DaemonSet":
        return 1, None
    if kind in BATCH_KINDS:
        inner = job_spec(obj)
        completions = inner.get("completions")
        return int(inner.get("parallelism", 1)), int(completions) if completions is not None else None
    return int(spec.get("replicas", 1)), None


def with_share(obj: Mapping[str, Any], replicas: int, completions: int | None) -> Json:
    """The workload with a member's share (or, on the pages, a new total) of replicas written in."""
    updated: Json = copy.deepcopy(dict(obj))
    kind = updated["kind"]
    if kind == "DaemonSet":
        return updated
    if kind in BATCH_KINDS:
        inner = (
            updated["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else updated.setdefault("spec", {})
        )
        inner["parallelism"] = replicas
        if completions is not None:
            inner["completions"] = completions
        else:
            inner.pop("completions", None)
        return updated
    updated.setdefault("spec", {})["replicas"] = replicas
    return updated


def with_replicas(obj: Mapping[str, Any], replicas: int) -> Json:
    """A new replica count (Deployment/StatefulSet replicas, Job/CronJob parallelism); completions kept."""
    kind = obj.get("kind")
    completions = job_spec(obj).get("completions") if kind in BATCH_KINDS else None
    return with_share(obj, replicas, completions)
