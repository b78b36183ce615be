"""What a person pastes to apply a right-sizing recommendation: a `kubectl patch` command and a YAML
fragment of the workload's manifest. Pure text, no I/O.

A strategic merge patch merges `containers` by name, so one patch sets every container's requests
and leaves everything else in the pod template as it is; changing the template rolls the workload's
pods, as any edit of it does. Only controllers whose pod template may change take a patch: a Job's
template is immutable, and a bare pod or a trace's app label has no template to patch, so for those
only the fragment is given, for the manifest that creates them.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

PATCHABLE_KINDS = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "ReplicaSet": "replicaset",
}


@dataclass(frozen=True)
class ContainerResources:
    """The requests (and limits to set with them, None: leave as they are) of one container."""

    name: str
    cpu: float  # cores
    memory_gib: float
    cpu_limit: float | None = None
    memory_limit_gib: float | None = None


def cpu_quantity(cores: float) -> str:
    """Cores as Kubernetes writes them, rounded up to a millicore: 0.25 -> "250m", 2.0 -> "2"."""
    millis = max(math.ceil(cores * 1000 - 1e-6), 1)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def memory_quantity(gib: float) -> str:
    """GiB as Kubernetes writes them, rounded up to a MiB: 0.5 -> "512Mi", 2.0 -> "2Gi"."""
    mib = max(math.ceil(gib * 1024 - 1e-6), 1)
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def _resources(container: ContainerResources) -> dict[str, dict[str, str]]:
    resources = {
        "requests": {"cpu": cpu_quantity(container.cpu), "memory": memory_quantity(container.memory_gib)}
    }
    limits = {}
    if container.cpu_limit is not None:
        limits["cpu"] = cpu_quantity(container.cpu_limit)
    if container.memory_limit_gib is not None:
        limits["memory"] = memory_quantity(container.memory_limit_gib)
    if limits:
        resources["limits"] = limits
    return resources


def split_workload(workload: str) -> tuple[str, str]:
    """ "Deployment/web" -> ("Deployment", "web")."""
    kind, _, name = workload.partition("/")
    return kind, name


def kubectl_patch(namespace: str, workload: str, containers: Sequence[ContainerResources]) -> str | None:
    """The `kubectl patch` command setting these requests; None when the workload takes no patch."""
    kind, name = split_workload(workload)
    resource = PATCHABLE_KINDS.get(kind)
    if resource is None or not name or not containers:
        return None
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": c.name, "resources": _resources(c)} for c in containers]}
            }
        }
    }
    body = json.dumps(patch, separators=(",", ":"))
    return (
        f"kubectl -n {shlex.quote(namespace)} patch {resource} {shlex.quote(name)} "
        f"--type strategic -p {shlex.quote(body)}"
    )


def manifest_fragment(namespace: str, workload: str, containers: Sequence[ContainerResources]) -> str:
    """The part of the workload's manifest to change, as YAML (names quoted as JSON strings, which
    YAML reads as they are)."""
    kind, name = split_workload(workload)
    lines = [
        f"# {kind} {name} in namespace {namespace}",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
    ]
    for container in containers:
        lines.append(f"        - name: {json.dumps(container.name)}")
        lines.append("          resources:")
        for section, values in _resources(container).items():
            lines.append(f"            {section}:")
            lines.extend(f"              {key}: {json.dumps(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"
