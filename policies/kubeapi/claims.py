"""The status of a PersistentVolumeClaim that goes with the workloads that mount it (each member
they run in gets its own claim): ``Bound`` once every workload that mounts it runs (or ran to
completion), ``Pending`` until then, as kube-apiserver shows a claim waiting for its volume.

Running pods prove the claim bound in each member they run in: a pod that mounts a claim does not
start before the claim is bound (kube-scheduler waits for its binding, the kubelet for its volume).
Once bound it stays bound, as a claim does. Argo CD's health check (Progressing until Bound) and
``helm install --wait`` read this phase; without it an application with a volume never shows
Healthy. A claim no workload mounts, or one sent to a policy's clusters on its own, keeps the
status it has.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policies.federation.placements import FederationRows
from policies.kubeapi import store
from policies.kubeapi.companion_status import gathered, workloads_and_placements
from policies.models import KubeObject, Workload, WorkloadStatus
from tenants.models import Organization

Json = dict[str, Any]
KIND = "PersistentVolumeClaim"
_DONE = (WorkloadStatus.RUNNING, WorkloadStatus.COMPLETED)


def _mounted(manifest: Json) -> set[str]:
    """The claims a workload's pod template mounts (a CronJob's through its job template)."""
    spec = manifest.get("spec") or {}
    template = (
        spec.get("template") or ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    )
    claims = [v.get("persistentVolumeClaim") for v in (template.get("spec") or {}).get("volumes") or []]
    return {str(c["claimName"]) for c in claims if isinstance(c, dict) and c.get("claimName")}


def _users(workloads: Iterable[Workload]) -> dict[tuple[str, str], list[Workload]]:
    """By (namespace, claim name), the workloads that take the claim with them and mount it."""
    users: dict[tuple[str, str], list[Workload]] = {}
    for workload in workloads:
        if workload.deleted_at is not None:
            continue
        taken = {str(c.get("name")) for c in workload.companion_summary or [] if c.get("kind") == KIND}
        for name in taken & _mounted(workload.manifest or {}):
            users.setdefault((workload.namespace, name), []).append(workload)
    return users


def _status(kobj: KubeObject, bound: bool) -> Json:
    spec = kobj.body.get("spec") or {}
    if not bound:
        return {**kobj.status, "phase": "Pending"}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    status: Json = {**kobj.status, "phase": "Bound", "accessModes": list(spec.get("accessModes") or [])}
    if storage:
        status["capacity"] = {"storage": storage}
    return status


def claim_statuses_sync(organization: Organization, rows: FederationRows | None) -> int:
    """Each mounted companion claim's phase from the workloads that mount it, until a member
    reports its own copy's (``companion_status`` then gathers those). How many changed."""
    workloads, placements = workloads_and_placements(organization, rows)
    users = _users(workloads)
    if not users:
        return 0
    claims = KubeObject.objects.filter(
        organization=organization, group="", kind=KIND, deleted_at__isnull=True
    )
    changes: list[tuple[KubeObject, Json]] = []
    for kobj in claims.filter(namespace__in={namespace for namespace, _ in users}):
        using = users.get((kobj.namespace, kobj.name))
        if not using or gathered((kobj.namespace, KIND, kobj.name), using, placements):
            continue
        bound = kobj.status.get("phase") == "Bound" or all(w.status in _DONE for w in using)
        status = _status(kobj, bound)
        if status != kobj.status:
            changes.append((kobj, status))
    return store.statuses_write_unless_moved(organization, changes)
