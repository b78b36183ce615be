"""Workloads sent to the endpoint (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs) are
federated workloads: the same ``Workload`` rows the pages and the REST API show, placed and applied
by the federation loop. This module links the two ways: objects → workloads (with the companions
they use, ``companions``), and placements → Kubernetes status (``kind_status`` for the kinds'
own fields).

- A workload's policy is the one named by the ``policy.nodeless.io/name`` annotation, else the
  most specific policy whose selector (namespaces, labels) selects it, as for the REST API.
- Companions follow the workloads that use them (``companions``). A companion's change rolls out
  to every workload using it.
- Status: replicas, updated, ready and available replicas summed over the members, conditions,
  ``observedGeneration`` only once every member runs the current generation (what ``kubectl
  rollout status`` and Argo CD's health check wait on, as Karmada aggregates), and
  ``status.clusters``: the per-cluster breakdown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from policies.federation import services
from policies.federation.manifests import WORKLOAD_KINDS, parse_manifest
from policies.kubeapi import store
from policies.kubeapi.companions import COMPANION_GROUPS, companions_for
from policies.kubeapi.kind_status import kind_status
from policies.kubeapi.propagation import (
    condition,
    events_expire,
    events_record,
    standalone_statuses_sync,
    with_condition,
    workload_problems,
)
from policies.kubeapi.resources import Resource, by_kind
from policies.models import FederationPolicy, KubeObject, Placement, Workload, WorkloadKind, WorkloadStatus
from tenants.actors import Actor
from tenants.models import Organization

Json = dict[str, Any]
POLICY_ANNOTATION = "policy.nodeless.io/name"
COMPANION_KINDS = tuple(COMPANION_GROUPS)


def _policy(organization: Organization, obj: Mapping[str, Any]) -> FederationPolicy | None:
    name = ((obj.get("metadata") or {}).get("annotations") or {}).get(POLICY_ANNOTATION)
    if not name:
        return None
    policy = FederationPolicy.objects.filter(organization=organization, name=name).first()
    if policy is None:
        raise ValidationError(
            {"manifest": [f"metadata.annotations[{POLICY_ANNOTATION}]: no FederationPolicy named {name!r}"]}
        )
    return policy


def workload_sync(organization: Organization, *, kobj: KubeObject, obj: Json, actor: Actor) -> None:
    """Create or update the federated workload of a workload object (raises ValidationError)."""
    manifest = [obj, *companions_for(organization, kobj.namespace, obj)]
    requested = _policy(organization, obj)
    workload = (
        kobj.workload
        or Workload.objects.filter(
            organization=organization,
            namespace=kobj.namespace,
            name=kobj.name,
            kind=kobj.kind,
            deleted_at__isnull=True,
        ).first()
    )
    if workload is None:
        kobj.workload = services.workload_submit(
            organization, actor=actor, manifest=manifest, policy=requested
        )
        _linked(kobj)
        return
    if kobj.workload_id is None:
        kobj.workload = workload
    parsed = parse_manifest(manifest)
    unchanged = (
        parsed.workload == workload.manifest
        and list(parsed.companions) == services.workload_companions(workload)
        and (requested is None or requested.pk == workload.policy_id)
    )
    if not unchanged and requested is None:  # the workload keeps its policy (pages may move it)
        kobj.workload = services.workload_update(
            organization, workload=workload, actor=actor, manifest=manifest, replace_companions=True
        )
    elif not unchanged:
        kobj.workload = services.workload_update(
            organization,
            workload=workload,
            actor=actor,
            manifest=manifest,
            replace_companions=True,
            policy=requested,
        )
    _linked(kobj)


def _linked(kobj: KubeObject) -> None:
    """The object now says what its workload's generation runs (the loop copies back only later
    changes, made on the pages or through the REST API)."""
    assert kobj.workload is not None
    kobj.workload_generation = kobj.workload.generation
    kobj.save(update_fields=["workload", "workload_generation"])


def companions_changed(organization: Organization, *, namespace: str, actor: Actor) -> None:
    """A companion changed: workloads of the namespace take the new set, and a pass applies it
    where it goes stand-alone (``standalone``)."""
    services.enqueue_federation_pass(organization)
    linked = KubeObject.objects.filter(
        organization=organization,
        namespace=namespace,
        kind__in=list(WORKLOAD_KINDS),
        workload__isnull=False,
        deleted_at__isnull=True,
    ).select_related("workload")
    for kobj in linked:
        workload_sync(organization, kobj=kobj, obj=store.render(kobj), actor=actor)


def workload_delete(organization: Organization, *, kobj: KubeObject, actor: Actor) -> bool:
    """Ask the loop to remove the workload from its members; False when there is none to remove."""
    if kobj.workload is None:
        return False
    services.workload_delete(organization, workload=kobj.workload, actor=actor)
    return True


# --- status back -----------------------------------------------------------------------------------


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
        "conditions": [
            _condition(
                "Available",
                available >= workload.desired_replicas,
                "MinimumReplicasAvailable"
                if available >= workload.desired_replicas
                else "MinimumReplicasUnavailable",
                f"{available}/{workload.desired_replicas} replicas available over the members",
            ),
            _condition(
                "Progressing",
                workload.status != WorkloadStatus.UNSCHEDULABLE,
                "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                workload.status_message,
            ),
            federated,
        ],
        "clusters": _clusters(placements),
    }
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
    if workload.status == WorkloadStatus.COMPLETED:
        status["conditions"].insert(
            0, _condition("Complete", status=True, reason="Completed", message=workload.status_message)
        )
    elif workload.status == WorkloadStatus.FAILED:
        status["conditions"].insert(
            0, _condition("Failed", status=True, reason="MemberFailed", message=workload.status_message)
        )
    return status


def statuses_sync(organization_id: str) -> int:
    """After a loop pass: each linked object's status from its workload and placements (a change is a
    new resourceVersion, so watches see it); its spec from the workload when the pages or the REST
    API changed it (scaled, a new manifest); and objects whose workload is gone removed for good
    (the delete finished on every member, or the workload was deleted elsewhere). Read under the
    organization's counter lock, so no write of the endpoint is overwritten. How many changed."""
    changed = 0
    with transaction.atomic():
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            return 0  # deleted after the pass was queued: nothing of it is left to sync
        counter = store.lock(organization)
        changed += _adopt(organization, counter)
        objects = list(
            KubeObject.objects.filter(organization=organization, kind__in=list(WORKLOAD_KINDS))
            .select_related("workload", "workload__policy")
            .order_by("pk")
        )
        placements: dict[Any, list[Placement]] = {}
        linked = [o.workload_id for o in objects if o.workload_id]
        for placement in Placement.objects.filter(workload_id__in=linked).select_related("cluster"):
            placements.setdefault(placement.workload_id, []).append(placement)
        statuses: list[tuple[KubeObject, Any]] = []
        for kobj in objects:
            if kobj.workload is None:
                store.remove(organization, counter, kobj)
                changed += 1
                continue
            if kobj.workload.generation != kobj.workload_generation:
                _spec_from_workload(organization, counter, kobj)
                changed += 1
            status = _with_propagation(organization, counter, kobj, placements.get(kobj.workload_id, []))
            if status != kobj.status:
                statuses.append((kobj, status))
        store.touch_statuses(organization, counter, statuses)
        changed += len(statuses)
        changed += standalone_statuses_sync(organization, counter)
        events_expire(organization, counter)
        changed += _namespaces_finish(organization, counter)
    return changed


def _with_propagation(
    organization: Organization, counter: Any, kobj: KubeObject, placements: list[Placement]
) -> Json:
    """The workload's aggregated status with its ``FullyApplied`` condition, and a Warning event
    per member that refused it (``propagation``)."""
    workload = kobj.workload
    assert workload is not None
    status = workload_status(kobj, workload, placements)
    problems, pending = workload_problems(workload, placements)
    if kobj.deleted_at is None:
        events_record(organization, counter, kobj, problems)
    previous = (kobj.status or {}).get("conditions") or []
    return with_condition(status, condition(previous, problems, pending=pending, generation=kobj.generation))


def _adopt(organization: Organization, counter: Any) -> int:
    """Workloads submitted on the pages or through the REST API become objects of the endpoint too
    (with their namespace and companions), so kubectl sees every workload of the organization.
    What exists is read in one query and the new objects are stored together: a burst of a
    thousand REST submissions, one object at a time, made this the longest step of the pass
    (bench/federation_fleet.py --profile)."""
    orphans = list(
        Workload.objects.filter(
            organization=organization, deleted_at__isnull=True, kube_objects__isnull=True
        ).order_by("created_at")
    )
    if not orphans:
        return 0
    namespaces = {workload.namespace for workload in orphans}
    stored = set(
        KubeObject.objects.filter(organization=organization, namespace__in=[*namespaces, ""]).values_list(
            "group", "resource", "namespace", "name"
        )
    )
    created: list[KubeObject] = []

    def create(resource: Resource, namespace: str, name: str, write: store.Write) -> KubeObject | None:
        key = (resource.group, resource.plural, namespace, name)
        if key in stored:
            return None
        stored.add(key)
        kobj = store.new_object(organization, resource, namespace, name, write)
        created.append(kobj)
        return kobj

    namespace_kind = by_kind("", "Namespace")
    assert namespace_kind is not None
    adopted = 0
    for workload in orphans:
        resource = by_kind(WORKLOAD_KINDS[workload.kind].split("/")[0], workload.kind)
        if resource is None or (resource.group, resource.plural, workload.namespace, workload.name) in stored:
            continue
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {}}
        create(namespace_kind, "", workload.namespace, store.Write(namespace, {"phase": "Active"}, 1))
        for companion in services.workload_companions(workload):
            kind = by_kind("", str(companion.get("kind")))
            name = str((companion.get("metadata") or {}).get("name"))
            if kind is not None:
                create(kind, workload.namespace, name, store.Write(companion, {}, 1))
        kobj = create(
            resource, workload.namespace, workload.name, store.Write(dict(workload.manifest), {}, 1)
        )
        assert kobj is not None
        # linked: the object says what its workload's generation runs (as ``_linked`` does)
        kobj.workload = workload
        kobj.workload_generation = workload.generation
        adopted += 1
    store.create_many(organization, counter, created)
    return adopted


def _spec_from_workload(organization: Organization, counter: Any, kobj: KubeObject) -> None:
    """The workload changed outside the endpoint: the object takes its spec and labels."""
    workload = kobj.workload
    assert workload is not None
    obj = store.render(kobj)
    obj["spec"] = workload.manifest.get("spec") or {}
    labels = (workload.manifest.get("metadata") or {}).get("labels")
    obj["metadata"]["labels"] = labels or {}
    kobj.workload_generation = workload.generation
    write = store.Write(obj, kobj.status, kobj.generation + 1)
    store.save(organization, counter, store.resource_of(kobj), kobj.namespace, kobj.name, write, kobj)


def _namespaces_finish(organization: Organization, counter: Any) -> int:
    """Namespaces being deleted go once nothing is left in them."""
    done = 0
    deleting = KubeObject.objects.filter(
        organization=organization, resource="namespaces", deleted_at__isnull=False
    )
    for namespace in deleting:
        inside = KubeObject.objects.filter(organization=organization, namespace=namespace.name)
        if not inside.exclude(kind="Event", group="").exists():
            for event in inside:  # the events about what was in it go with it
                store.remove(organization, counter, event)
            store.remove(organization, counter, namespace)
            done += 1
    return done
