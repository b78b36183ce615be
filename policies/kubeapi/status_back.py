"""Status back to the Kubernetes endpoint's workload objects, after each loop pass: replicas,
updated, ready and available replicas summed over the members, conditions, ``observedGeneration``
only once every member runs the current generation (what ``kubectl rollout status`` and Argo CD's
health check wait on, as Karmada aggregates), and the per-cluster breakdown (served as the ``nodeless.io/clusters`` annotation, ``store.render``);
the phase of the claims the workloads mount (``claims``), and what members report of their
Ingresses, LoadBalancer Services and HPAs (``companion_status``).

The sync reads and computes **outside** the organization's counter lock (every write of the
endpoint takes that lock, so a kubectl apply would wait behind the computing), then writes under
it only the objects whose resourceVersion did not move meanwhile; an object written in between
gets its status on the next pass. A pass hands over its rows (workloads and placements as it just
wrote them), so the sync does not read them again.

With a ``StatusMemo`` (the worker keeps one per organization), a sync computes only the statuses
whose inputs moved: an object whose stored status was found current is skipped while its
resourceVersion, its link to its workload and the stored fields of that workload (but its bulky
manifest and companions) and of its placements are as they were then (the status is a function of
nothing else but time: a Deployment that would pass its progress deadline, ``progress``, is looked at
again then), so a sync during a burst costs what changed, not every object of the organization.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from django.db import transaction
from django.utils import timezone

from policies.federation import services
from policies.federation.manifests import WORKLOAD_KINDS
from policies.federation.placements import FederationRows
from policies.kubeapi import progress, revisions, store
from policies.kubeapi.claims import claim_statuses_sync
from policies.kubeapi.companion_status import companion_statuses_sync
from policies.kubeapi.propagation import (
    Problem,
    condition,
    events_expire,
    events_record,
    standalone_statuses_sync,
    with_condition,
    workload_problems,
)
from policies.kubeapi.resources import Resource, by_kind
from policies.kubeapi.workload_status import workload_status
from policies.models import KubeObject, Placement, Workload
from tenants.models import Organization

Json = dict[str, Any]
# What the sync reads of every workload object outside the lock: not its body (the objects it
# writes are read whole under the lock, so their events carry them as they are).
_SYNC_FIELDS = (
    "id",
    "organization_id",
    "group",
    "version",
    "kind",
    "resource",
    "namespace",
    "name",
    "status",
    "resource_version",
    "generation",
    "workload_id",
    "workload_generation",
    "deleted_at",
)


# What a memo entry is keyed on: the object's (resourceVersion, workload id, workload generation)
# and its workload's and placements' stored fields.
_Inputs = tuple[Any, ...]
# Not the workload's manifest, labels and companions: the status reads none of them (a new manifest
# comes with a new generation), and a memo kept for many organizations holds only small values.
_WORKLOAD_BULK = frozenset({"manifest", "labels", "companion_summary", "objects_ciphertext"})
_WORKLOAD_FIELDS = tuple(
    field.attname for field in Workload._meta.concrete_fields if field.attname not in _WORKLOAD_BULK
)
# Nor a placement's sync time: every pass that hears from its member moves it, and the status does
# not read it (kept, every object of an organization at rest was planned again each pass: 1,000 a
# pass at 1,000 workloads, a fifth of its CPU; bench/federation_fleet.py --steady-passes).
_PLACEMENT_VOLATILE = frozenset({"last_synced_at"})
_PLACEMENT_FIELDS = tuple(
    field.attname for field in Placement._meta.concrete_fields if field.attname not in _PLACEMENT_VOLATILE
)
# Read in one C call each (every linked object's inputs are compared each pass at rest).
_workload_values = attrgetter(*_WORKLOAD_FIELDS)
_placement_values = attrgetter(*_PLACEMENT_FIELDS, "cluster.name")


class StatusMemo:
    """Per object, the inputs from which a sync last found its stored status current (see the
    module docstring). Values are compared, and the rows replace a JSON value when it changes
    (they never edit one in place), so a reference kept here is the value as it was."""

    def __init__(self) -> None:
        self.current: dict[Any, _Inputs] = {}
        # Every linked object's head as last read, and the organization's resourceVersion read just
        # before: while it has not moved, no object was written, linked, added or removed (every
        # such write takes the next version; a workload deleted outside the endpoint, which unlinks
        # its objects without one, leaves the pass's rows, so its objects count as moved anyway).
        self.heads: list[tuple[Any, ...]] = []
        self.version: int | None = None
        # When an object's current status turns stale with time alone (a Deployment passing its
        # progress deadline, ``progress``): it is looked at again then.
        self.due: dict[Any, Any] = {}


def _inputs(head: tuple[Any, Any, Any], workload: Workload, placements: Sequence[Placement]) -> _Inputs:
    return (head, _workload_values(workload), tuple(_placement_values(p) for p in placements))


@dataclass
class Planned:
    """What the sync will write for one object, computed outside the lock."""

    kobj: KubeObject  # as read outside the lock (no body)
    remove: bool = False
    spec: bool = False  # its workload changed outside the endpoint: take its spec first
    status: Json | None = None
    problems: Sequence[Problem] = ()
    placements: Sequence[Placement] = ()  # the workload's, for a status computed after the spec


def statuses_sync(
    organization_id: str, rows: FederationRows | None = None, memo: StatusMemo | None = None
) -> int:
    """After a loop pass: each linked object's status from its workload and placements (a change is a
    new resourceVersion, so watches see it); its spec from the workload when the pages or the REST
    API changed it (scaled, a new manifest); and objects whose workload is gone removed for good
    (the delete finished on every member, or the workload was deleted elsewhere). ``rows``: the
    pass's, read again where they lack a workload; ``memo``: skip what has not moved since the last
    sync that used it. How many objects changed."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return 0  # deleted after the pass was queued: nothing of it is left to sync
    changed = workloads_adopt(organization)
    changed += statuses_write(organization, statuses_plan(organization, rows, memo))
    changed += claim_statuses_sync(organization, rows)
    return changed + companion_statuses_sync(organization, rows)


def workloads_adopt(organization: Organization) -> int:
    """Workloads submitted on the pages or through the REST API become objects of the endpoint
    (under the counter lock, taken only when there is one to adopt). How many were adopted."""
    orphans = Workload.objects.filter(
        organization=organization, deleted_at__isnull=True, kube_objects__isnull=True
    )
    if not orphans.exists():
        return 0
    with transaction.atomic():
        return _adopt(organization, store.lock(organization))


def statuses_plan(
    organization: Organization, rows: FederationRows | None = None, memo: StatusMemo | None = None
) -> list[Planned]:
    """What to write to which workload object, read and computed without the counter lock (with
    ``rows`` and a ``memo``: only for the objects whose inputs moved since the memo's last sync)."""
    linked = KubeObject.objects.filter(organization=organization, kind__in=list(WORKLOAD_KINDS))
    objects = linked.only(*_SYNC_FIELDS).order_by("pk")
    by_workload = {w.pk: w for w in rows.workloads.values()} if rows is not None and memo is not None else {}
    unmoved: set[Any] = set()
    if memo is not None and memo.current and rows is not None:
        unmoved, moved = _unmoved(organization, linked, memo, by_workload, rows.placements)
        objects = objects.filter(pk__in=moved)
    read = list(objects)
    workloads, placements = _workload_rows(organization, read, rows)
    plan: list[Planned] = []
    current: dict[Any, _Inputs] = {}
    due_at: dict[Any, Any] = {}
    for kobj in read:
        item = _plan(kobj, workloads, placements)
        if item is not None:
            plan.append(item)
        elif kobj.workload_id in by_workload:
            head = _head(kobj)
            workload = by_workload[kobj.workload_id]
            current[kobj.pk] = _inputs(head, workload, placements.get(workload.pk, []))
            if (due := progress.deadline(kobj.status or {}, workload.manifest.get("spec") or {})) is not None:
                due_at[kobj.pk] = due
    if memo is not None:
        # unmoved objects keep their entry; those planned or gone lose theirs
        memo.current = {pk: memo.current[pk] for pk in unmoved} | current
        memo.due = {pk: memo.due[pk] for pk in unmoved if pk in memo.due} | due_at
    return plan


def _unmoved(
    organization: Organization,
    linked: Any,
    memo: StatusMemo,
    by_workload: Mapping[Any, Workload],
    placements: Mapping[str, Sequence[Placement]],
) -> tuple[set[Any], list[Any]]:
    """(the objects whose inputs are those from which ``memo`` found their status current, the
    others), from four columns of each object rather than the whole row, read again only when the
    organization's resourceVersion moved since they were last read (at rest it does not: a pass
    reads one row, not one of each object)."""
    unmoved: set[Any] = set()
    moved: list[Any] = []
    version_now, now = store.current_version(organization), timezone.now()
    if version_now != memo.version:
        memo.heads = list(linked.values_list("pk", "resource_version", "workload_id", "workload_generation"))
        memo.version = version_now
    for pk, version, workload_id, generation in memo.heads:
        remembered = memo.current.get(pk)
        workload = by_workload.get(workload_id)
        head = (version, workload_id, generation)
        same = (
            remembered is not None
            and workload is not None
            and remembered[0] == head
            and remembered == _inputs(head, workload, placements.get(str(workload.pk), ()))
            and ((due := memo.due.get(pk)) is None or due > now)
        )
        if same:
            unmoved.add(pk)
        else:
            moved.append(pk)
    return unmoved, moved


def statuses_write(organization: Organization, plan: Sequence[Planned]) -> int:
    """Under the counter lock: ``plan`` for the objects not written since it was made (the others
    wait for the next pass), the stand-alone objects' conditions, events past their TTL and
    namespaces whose deletion finished. How many objects changed."""
    whole = _whole_rows(plan)
    with transaction.atomic():
        counter = store.lock(organization)
        changed = _write(organization, counter, plan, whole)
        changed += standalone_statuses_sync(organization, counter)
        events_expire(organization, counter)
        return changed + _namespaces_finish(organization, counter)


def _workload_rows(
    organization: Organization, objects: Sequence[KubeObject], rows: FederationRows | None
) -> tuple[dict[Any, Workload], dict[Any, list[Placement]]]:
    """The linked objects' workloads and placements: the pass's rows, and read for those it lacks."""
    workloads: dict[Any, Workload] = {}
    placements: dict[Any, list[Placement]] = {}
    if rows is not None:
        for key, workload in rows.workloads.items():
            workloads[workload.pk] = workload
            placements[workload.pk] = list(rows.placements.get(key, []))
    missing = {o.workload_id for o in objects if o.workload_id and o.workload_id not in workloads}
    if missing:
        for workload in Workload.objects.filter(organization=organization, pk__in=missing):
            workloads[workload.pk] = workload
        for placement in Placement.objects.filter(workload_id__in=missing).select_related("cluster"):
            placements.setdefault(placement.workload_id, []).append(placement)
    return workloads, placements


def _plan(
    kobj: KubeObject, workloads: Mapping[Any, Workload], placements: Mapping[Any, list[Placement]]
) -> Planned | None:
    """What to write for ``kobj`` (None: nothing). Objects linked since the rows were read wait for
    the next pass: their status would be of an older generation."""
    workload = workloads.get(kobj.workload_id) if kobj.workload_id else None
    if kobj.workload_id is None:
        return Planned(kobj, remove=True)
    if workload is None:
        return None  # deleted since it was read: the next sync removes the object
    kobj.workload = workload
    if workload.generation > kobj.workload_generation:
        return Planned(kobj, spec=True, placements=placements.get(workload.pk, []))
    if workload.generation != kobj.workload_generation:
        return None
    status, problems = _status_of(kobj, workload, placements.get(workload.pk, []))
    if status == kobj.status and not problems:
        return None
    return Planned(kobj, status=status, problems=problems)


def _whole_rows(plan: Sequence[Planned]) -> dict[Any, KubeObject]:
    """The planned objects' whole rows (writing renders them), read before the counter lock is
    taken: the API's writes wait behind that lock, and a burst plans hundreds of objects."""
    if not plan:
        return {}
    return {kobj.pk: kobj for kobj in KubeObject.objects.filter(pk__in=[p.kobj.pk for p in plan])}


def _head(kobj: KubeObject) -> tuple[Any, ...]:
    """What moves when an object is written (its resourceVersion) or linked to its workload again
    (``federation.companions_changed``, which writes no resourceVersion)."""
    return (kobj.resource_version, kobj.workload_id, kobj.workload_generation)


def _write(
    organization: Organization, counter: Any, plan: Sequence[Planned], whole: Mapping[Any, KubeObject]
) -> int:
    """Under the counter lock: the planned writes of the objects whose heads have not moved."""
    if not plan:
        return 0
    planned = {p.kobj.pk: p for p in plan}
    heads = KubeObject.objects.filter(pk__in=list(planned)).values_list(
        "pk", "resource_version", "workload_id", "workload_generation"
    )
    current = {
        pk: whole[pk]
        for pk, *head in heads
        if pk in whole and tuple(head) == _head(whole[pk]) == _head(planned[pk].kobj)
    }
    changed = 0
    statuses: list[tuple[KubeObject, Json]] = []
    for key, item in planned.items():
        kobj = current.get(key)
        if kobj is None:
            continue  # written (or gone) since: the next pass plans it again
        workload = item.kobj.workload if kobj.workload_id else None
        if item.remove or workload is None:
            store.remove(organization, counter, kobj)
            changed += 1
            continue
        kobj.workload = workload
        if item.spec:
            _spec_from_workload(organization, counter, kobj)
            changed += 1
            status, problems = _status_of(kobj, workload, list(item.placements))
        else:
            assert item.status is not None
            status, problems = item.status, item.problems
        if kobj.deleted_at is None:
            events_record(organization, counter, kobj, problems)
        if status != kobj.status:
            statuses.append((kobj, status))
    store.touch_statuses(organization, counter, statuses)
    return changed + len(statuses)


def _status_of(
    kobj: KubeObject, workload: Workload, placements: list[Placement]
) -> tuple[Json, Sequence[Problem]]:
    """The workload's aggregated status with its ``FullyApplied`` condition, and the members that
    refused it (a Warning event each, ``propagation``)."""
    status = workload_status(kobj, workload, placements)
    problems, pending = workload_problems(workload, placements)
    previous = (kobj.status or {}).get("conditions") or []
    found = condition(previous, problems, pending=pending, generation=kobj.generation)
    return with_condition(status, found), problems


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
    before = store.render(kobj)
    obj = {**before, "spec": workload.manifest.get("spec") or {}}
    labels = (workload.manifest.get("metadata") or {}).get("labels")
    obj["metadata"] = {**before["metadata"], "labels": labels or {}}
    if kobj.kind == "Deployment":  # a new template from the pages is a new revision
        obj = revisions.with_revision(obj, before)
    kobj.workload_generation = workload.generation
    write = store.Write(obj, kobj.status, kobj.generation + 1)
    store.save(organization, counter, store.resource_of(kobj), kobj.namespace, kobj.name, write, kobj)
    if kobj.kind == "Deployment":
        revisions.history_record(organization, kobj, before, obj)


def _namespaces_finish(organization: Organization, counter: Any) -> int:
    """Namespaces being deleted go once nothing is left in them (what their deletion marked and no
    workload waits for goes first)."""
    done = 0
    deleting = KubeObject.objects.filter(
        organization=organization, resource="namespaces", deleted_at__isnull=False
    )
    for namespace in deleting:
        inside = KubeObject.objects.filter(organization=organization, namespace=namespace.name)
        # What the namespace's deletion marked and no workload waits for goes now.
        for kobj in inside.filter(deleted_at__isnull=False, workload__isnull=True).exclude(
            kind="Event", group=""
        ):
            store.remove(organization, counter, kobj)
        if not inside.exclude(kind="Event", group="").exists():
            for event in inside:  # the events about what was in it go with it
                store.remove(organization, counter, event)
            store.remove(organization, counter, namespace)
            done += 1
    return done
