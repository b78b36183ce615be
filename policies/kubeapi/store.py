"""The objects of an organization's Kubernetes API in PostgreSQL, their resourceVersions and the
change log watches read.

Every write locks the organization's ``KubeCounter`` row, takes the next resourceVersion from it
and appends a ``KubeEvent``, all in the caller's transaction: an organization's changes commit in
resourceVersion order, so a watch reading "events after N" never misses one that commits later
with a smaller version. Events older than ``HISTORY`` are compacted away as writes go on; a watch
from before the oldest kept version gets 410 Gone (etcd keeps about five minutes too).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from nodeless_saas.crypto import decrypt_text, encrypt_text
from nodeless_saas.rows_update import rows_update
from policies.kubeapi.defaults import defaulted, with_job_selector
from policies.kubeapi.resources import Resource, by_kind
from policies.kubeapi.tables import CLUSTERS_ANNOTATION
from policies.models import KubeCounter, KubeEvent, KubeObject
from tenants.models import Organization

Json = dict[str, Any]
HISTORY = timedelta(minutes=5)
# Compaction reads the oldest events on every write otherwise: one more statement per write, for
# events that age by the minute. A process looks again after this long (history kept a few seconds
# beyond HISTORY at most); _compacted_at is when it last did, per organization id.
COMPACT_SECONDS = 10.0
_compacted_at: dict[Any, float] = {}
SEALED_KINDS = {"Secret"}  # stored and logged only encrypted
DEFAULT_NAMESPACES = ("default",)
# Shown on an object whose deletion waits for the federation loop to remove it from its members.
FINALIZER = "nodeless.io/federation"

_SERVED_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "selfLink",
)


def resource_of(kobj: KubeObject) -> Resource:
    """The stored object's kind as served (built-in or custom)."""
    return by_kind(kobj.group, kobj.kind) or Resource(
        kobj.group, kobj.version, kobj.kind, kobj.resource, bool(kobj.namespace)
    )


def timestamp(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def lock(organization: Organization) -> KubeCounter:
    """The organization's counter, locked until the transaction ends (created on first use, with
    the namespaces every cluster has)."""
    with connection.cursor() as cursor:
        cursor.execute(_lock_statement(connection.features.has_select_for_update), [key(organization)])
        found = cursor.fetchone()
    if found is not None:
        counter = KubeCounter(
            organization=organization, resource_version=found[0], compacted_version=found[1]
        )
        counter._state.adding = False  # a stored row, as the ORM would have read it
        return counter
    KubeCounter.objects.get_or_create(organization=organization)
    counter = KubeCounter.objects.select_for_update().get(organization=organization)
    for name in DEFAULT_NAMESPACES:
        if not KubeObject.objects.filter(
            organization=organization, resource="namespaces", name=name
        ).exists():
            counter.resource_version += 1
            KubeObject.objects.create(
                organization=organization,
                group="",
                version="v1",
                kind="Namespace",
                resource="namespaces",
                name=name,
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {}},
                status={"phase": "Active"},
                resource_version=counter.resource_version,
            )
    _counter_saved(counter)
    return counter


@functools.cache
def _lock_statement(for_update: bool) -> str:
    """``lock``'s statement: plain, as every write through the endpoint sends it while the
    counter is locked (the ORM's ``select_for_update`` cost several times the CPU). SQLite (the
    embedded default) has no row locks: one writer at a time holds the whole database."""
    versions = f"{column(KubeCounter, 'resource_version')}, {column(KubeCounter, 'compacted_version')}"
    locked = " FOR UPDATE" if for_update else ""
    return f"SELECT {versions} FROM {table(KubeCounter)} WHERE {column(KubeCounter, 'organization')} = %s{locked}"


def current_version(organization: Organization) -> int:
    return version_of(str(organization.pk))


def version_of(organization_id: str) -> int:
    """The organization's resourceVersion: that of its last change (0 before any)."""
    found = KubeCounter.objects.filter(organization_id=organization_id).values_list(
        "resource_version", flat=True
    )
    return next(iter(found), 0)


def compacted_version(organization: Organization) -> int:
    counter = KubeCounter.objects.filter(organization=organization).first()
    return counter.compacted_version if counter is not None else 0


def scoped(organization: Organization, resource: Resource, namespace: str | None) -> QuerySet[KubeObject]:
    objects = KubeObject.objects.filter(
        organization=organization, group=resource.group, resource=resource.plural
    )
    return objects.filter(namespace=namespace) if namespace else objects


def load(
    organization: Organization, resource: Resource, namespace: str, name: str, *, for_update: bool = False
) -> KubeObject | None:
    objects = scoped(organization, resource, namespace or None).filter(namespace=namespace, name=name)
    return (objects.select_for_update() if for_update else objects).first()


def namespace_exists(organization: Organization, name: str) -> bool:
    if name in DEFAULT_NAMESPACES:
        return True
    return KubeObject.objects.filter(
        organization=organization, group="", resource="namespaces", name=name, deleted_at__isnull=True
    ).exists()


def column(model: Any, field: str) -> str:
    """A model field's column, quoted for a plain statement (``writes.creation_state`` and the reads
    every workload write makes are plain statements: built by the ORM, they cost several times
    the CPU)."""
    return str(connection.ops.quote_name(model._meta.get_field(field).column))


def table(model: Any) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def key(organization: Organization) -> Any:
    """The organization's id as a plain statement takes it."""
    return Organization._meta.pk.get_db_prep_value(organization.pk, connection)


def served_body(kobj: KubeObject) -> Json:
    """The stored object with what kube-apiserver fills in (``defaults``): the defaults of its kind,
    a Job's generated selector."""
    obj = defaulted(kobj.group, stored_body(kobj))
    if kobj.kind == "Job" and kobj.group == "batch":
        return with_job_selector(obj, str(kobj.pk), kobj.name)
    return obj


def stored_body(kobj: KubeObject) -> Json:
    """The object as stored (no status, no served metadata), decrypted if sealed."""
    if kobj.ciphertext:
        body: Json = json.loads(decrypt_text(kobj.ciphertext))
        return body
    return dict(kobj.body)


def render(kobj: KubeObject) -> Json:
    """The object as the API serves it (with kube-apiserver's defaults, ``defaults``)."""
    obj = served_body(kobj)
    metadata: Json = {"name": kobj.name}
    if kobj.namespace:
        metadata["namespace"] = kobj.namespace
    metadata.update(
        uid=str(kobj.pk),
        resourceVersion=str(kobj.resource_version),
        creationTimestamp=timestamp(kobj.created_at),
    )
    if kobj.kind not in (
        "ConfigMap",
        "Secret",
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Event",
    ):
        metadata["generation"] = kobj.generation
    if kobj.deleted_at is not None:
        metadata["deletionTimestamp"] = timestamp(kobj.deleted_at)
    metadata.update({k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVED_METADATA})
    if kobj.deleted_at is not None and FINALIZER not in (metadata.get("finalizers") or []):
        metadata["finalizers"] = [*(metadata.get("finalizers") or []), FINALIZER]
    rendered: Json = {"apiVersion": kobj.body.get("apiVersion") or api_version(kobj), "kind": kobj.kind}
    status = kobj.status
    if isinstance(status.get("clusters"), list):
        breakdown = json.dumps(status["clusters"], separators=(",", ":"))
        metadata["annotations"] = {**(metadata.get("annotations") or {}), CLUSTERS_ANNOTATION: breakdown}
        status = {k: v for k, v in status.items() if k != "clusters"}
    rendered["metadata"] = metadata
    rendered.update({k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")})
    if status:
        rendered["status"] = status
    return rendered


def api_version(kobj: KubeObject) -> str:
    return f"{kobj.group}/{kobj.version}" if kobj.group else kobj.version


def strip_served(obj: Json) -> Json:
    """What is stored of an object: without status and the metadata the server fills in."""
    body = {k: v for k, v in obj.items() if k != "status"}
    body["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVED_METADATA}
    annotations = body["metadata"].get("annotations")
    if isinstance(annotations, dict) and CLUSTERS_ANNOTATION in annotations:
        kept = {k: v for k, v in annotations.items() if k != CLUSTERS_ANNOTATION}
        if kept:
            body["metadata"]["annotations"] = kept
        else:
            del body["metadata"]["annotations"]
    return body


@dataclass
class Write:
    """One change to record: the object (as sent, served fields are dropped) and its status."""

    obj: Json
    status: Json
    generation: int


def save(
    organization: Organization,
    counter: KubeCounter,
    resource: Resource,
    namespace: str,
    name: str,
    write: Write,
    existing: KubeObject | None,
) -> KubeObject:
    """Store a created or changed object with the next resourceVersion, and log the change."""
    kobj = prepared(organization, resource, namespace, name, write, existing)
    return save_prepared(organization, counter, kobj, added=existing is None)


def prepared(
    organization: Organization,
    resource: Resource,
    namespace: str,
    name: str,
    write: Write,
    existing: KubeObject | None,
) -> KubeObject:
    """The object as ``save`` stores it (``write`` in it), not stored yet: ``render`` shows it as
    it will be served (but for its resourceVersion, given when it is stored), and fields set on it
    now are stored with it (``save_prepared``) in the same statement. Needs no lock: a create
    prepares its object, and its workload, before it waits for the counter."""
    kobj = existing or new_object(organization, resource, namespace, name)
    _write_into(kobj, resource, write)
    return kobj


def save_prepared(
    organization: Organization, counter: KubeCounter, kobj: KubeObject, *, added: bool
) -> KubeObject:
    """Store an object from ``prepared`` at the next resourceVersion (``counter`` locked), and log it."""
    counter.resource_version += 1
    kobj.resource_version = counter.resource_version
    kobj.written_at = timezone.now()
    kobj.save()
    _log(organization, counter, kobj, "ADDED" if added else "MODIFIED")
    _counter_saved(counter)
    return kobj


def new_object(
    organization: Organization, resource: Resource, namespace: str, name: str, write: Write | None = None
) -> KubeObject:
    """An object not stored yet (``create_many`` stores it), with ``write`` in it if given."""
    kobj = KubeObject(
        organization=organization,
        group=resource.group,
        version=resource.version,
        kind=resource.kind,
        resource=resource.plural,
        namespace=namespace,
        name=name,
        resource_version=0,  # given when it is stored
    )
    if write is not None:
        _write_into(kobj, resource, write)
    return kobj


def _write_into(kobj: KubeObject, resource: Resource, write: Write) -> None:
    body = strip_served(write.obj)
    sealed = resource.kind in SEALED_KINDS
    kobj.version = resource.version
    kobj.body = {"apiVersion": body.get("apiVersion"), "metadata": {}} if sealed else body
    kobj.ciphertext = encrypt_text(json.dumps(body)) if sealed else ""
    kobj.labels = dict((body.get("metadata") or {}).get("labels") or {})
    kobj.status = write.status
    kobj.generation = write.generation


def create_many(organization: Organization, counter: KubeCounter, kobjs: Sequence[KubeObject]) -> None:
    """Store new objects (``new_object``) in a few statements, each with the next resourceVersion
    and an ADDED event, in order."""
    if not kobjs:
        return
    events = []
    for kobj in kobjs:
        counter.resource_version += 1
        kobj.resource_version = counter.resource_version
        events.append(_event(organization, counter, kobj, "ADDED"))
    KubeObject.objects.bulk_create(kobjs, batch_size=500)
    KubeEvent.objects.bulk_create(events, batch_size=500)
    _compact(organization, counter)
    _counter_saved(counter)


def touch_status(organization: Organization, counter: KubeCounter, kobj: KubeObject, status: Json) -> None:
    """A new status (and resourceVersion) for a stored object, logged: watches see it change."""
    touch_statuses(organization, counter, [(kobj, status)])


def touch_statuses(
    organization: Organization, counter: KubeCounter, changes: Sequence[tuple[KubeObject, Json]]
) -> None:
    """``touch_status`` for many objects in a few statements (a pass gives hundreds of objects a
    new status at once; one by one, that was four statements each)."""
    if not changes:
        return
    events = []
    for kobj, status in changes:
        counter.resource_version += 1
        kobj.status = status
        kobj.resource_version = counter.resource_version
        events.append(_event(organization, counter, kobj, "MODIFIED"))
    _update_statuses([kobj for kobj, _ in changes])
    KubeEvent.objects.bulk_create(events, batch_size=500)
    _compact(organization, counter)
    _counter_saved(counter)


def statuses_write_unless_moved(
    organization: Organization, changes: Sequence[tuple[KubeObject, Json]]
) -> int:
    """Give the objects (as read outside the organization's lock) their new statuses, under the
    lock, unless written since they were read (an apply): theirs waits for the next sync. How many
    were written."""
    if not changes:
        return 0
    with transaction.atomic():
        counter = lock(organization)
        versions = dict(
            KubeObject.objects.filter(pk__in=[k.pk for k, _ in changes]).values_list("pk", "resource_version")
        )
        current = [(k, s) for k, s in changes if versions.get(k.pk) == k.resource_version]
        touch_statuses(organization, counter, current)
        return len(current)


def _update_statuses(kobjs: Sequence[KubeObject]) -> None:
    """Write each object's status and resourceVersion (``nodeless_saas.rows_update``)."""
    rows = [(kobj.pk, (kobj.status, kobj.resource_version)) for kobj in kobjs]
    rows_update(KubeObject, ("status", "resource_version"), rows)


def mark_deleting(organization: Organization, counter: KubeCounter, kobj: KubeObject) -> None:
    counter.resource_version += 1
    kobj.deleted_at = timezone.now()
    kobj.resource_version = counter.resource_version
    kobj.save(update_fields=["deleted_at", "resource_version"])
    _log(organization, counter, kobj, "MODIFIED")
    _counter_saved(counter)


def remove(organization: Organization, counter: KubeCounter, kobj: KubeObject) -> Json:
    """Delete the object for good; the DELETED event carries its last state (at a new version)."""
    counter.resource_version += 1
    kobj.resource_version = counter.resource_version
    last = render(kobj)
    _log(organization, counter, kobj, "DELETED")
    kobj.delete()
    _counter_saved(counter)
    return last


@functools.cache
def _counter_statement() -> str:
    version, organization = column(KubeCounter, "resource_version"), column(KubeCounter, "organization")
    return f"UPDATE {table(KubeCounter)} SET {version} = %s WHERE {organization} = %s"


def _counter_saved(counter: KubeCounter) -> None:
    """The counter's new resourceVersion stored: a plain statement, as every write sends it with
    the counter locked (the ORM's save cost several times the CPU)."""
    with connection.cursor() as cursor:
        organization = Organization._meta.pk.get_db_prep_value(counter.organization_id, connection)
        cursor.execute(_counter_statement(), [counter.resource_version, organization])


_EVENT_FIELDS = ("organization", "resource_version", "group", "resource", "namespace", "name", "type")


@functools.cache
def _event_statement() -> str:
    names = [*_EVENT_FIELDS, "object", "ciphertext", "created_at"]
    columns = ", ".join(column(KubeEvent, name) for name in names)
    document = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    values = ", ".join(["%s"] * len(_EVENT_FIELDS) + [document, "%s", "%s"])
    return f"INSERT INTO {table(KubeEvent)} ({columns}) VALUES ({values})"


def _log(organization: Organization, counter: KubeCounter, kobj: KubeObject, kind: str) -> None:
    """The change logged: one plain statement (sent with the counter locked; the ORM's insert
    cost several times the CPU)."""
    event = _event(organization, counter, kobj, kind)
    values = [key(organization), *(getattr(event, name) for name in _EVENT_FIELDS[1:])]
    with connection.cursor() as cursor:
        cursor.execute(
            _event_statement(), [*values, json.dumps(event.object), event.ciphertext, event.created_at]
        )
    _compact(organization, counter)


def _event(organization: Organization, counter: KubeCounter, kobj: KubeObject, kind: str) -> KubeEvent:
    """The change log's row for ``kobj`` as it is now (unsaved), at the counter's version."""
    rendered = render(kobj)
    sealed = kobj.kind in SEALED_KINDS
    return KubeEvent(
        organization=organization,
        resource_version=counter.resource_version,
        group=kobj.group,
        resource=kobj.resource,
        namespace=kobj.namespace,
        name=kobj.name,
        type=kind,
        object={} if sealed else rendered,
        ciphertext=encrypt_text(json.dumps(rendered)) if sealed else "",
    )


def _compact(organization: Organization, counter: KubeCounter) -> None:
    """Drop the events older than ``HISTORY`` (once per locked counter, i.e. per transaction, and
    per process and organization at most every ``COMPACT_SECONDS``); a watch from before what is
    left gets 410 Gone."""
    if counter.compaction_done:
        return
    counter.compaction_done = True
    moment = time.monotonic()
    if moment - _compacted_at.get(organization.pk, -COMPACT_SECONDS) < COMPACT_SECONDS:
        return
    _compacted_at[organization.pk] = moment
    cutoff = timezone.now() - HISTORY
    old = KubeEvent.objects.filter(organization=organization, created_at__lt=cutoff)
    newest_old = old.aggregate(newest=Max("resource_version"))["newest"]
    if newest_old is not None:
        old.delete()
        counter.compacted_version = max(counter.compacted_version, newest_old)
        counter.save(update_fields=["compacted_version"])


def events_after(
    organization: Organization, resource: Resource, namespace: str | None, version: int, up_to: int
) -> list[tuple[int, str, Json]]:
    """(resourceVersion, type, object) of the changes after ``version`` up to ``up_to``, oldest first."""
    events = KubeEvent.objects.filter(
        organization=organization,
        group=resource.group,
        resource=resource.plural,
        resource_version__gt=version,
        resource_version__lte=up_to,
    )
    if namespace:
        events = events.filter(namespace=namespace)
    found = []
    for event in events.order_by("resource_version"):
        obj = json.loads(decrypt_text(event.ciphertext)) if event.ciphertext else event.object
        found.append((event.resource_version, event.type, obj))
    return found
