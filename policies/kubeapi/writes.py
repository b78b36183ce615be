"""How the endpoint stores one object: what the API server fills in (``normalized``), whether a
write changes anything at all (``unchanged``), a workload object's link to its federated workload,
and the two ways in: ``written`` (over an object, or new, the organization's counter held
throughout) and ``created`` (a new object, the counter taken only for its own write, with what it
read before checked again, ``creation_state``). The verbs (``operations``) decide what to write;
this module stores it.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection

from policies.kubeapi import catalog, checks, defaults, errors, federation, revisions, service_ips, store
from policies.kubeapi.companions import COMPANION_GROUPS
from policies.kubeapi.resources import Resource, by_kind
from policies.models import KubeCounter, KubeEvent, KubeObject
from tenants.actors import Actor
from tenants.models import Organization

Json = dict[str, Any]
_SPEC_FREE = {"metadata", "status", "apiVersion", "kind"}  # changes here do not bump generation


@dataclass(frozen=True)
class Context:
    organization: Organization
    actor: Actor
    resource: Resource
    namespace: str  # "" for cluster-scoped kinds
    manager: str
    dry_run: bool = False
    # The version the request asked for, when its objects are stored as ``resource`` (``conversion``).
    asked: Resource | None = None

    @property
    def served(self) -> Resource:
        """The resource as the request asked for it (its version)."""
        return self.asked or self.resource


@dataclass(frozen=True)
class Creation:
    """What a create must know of the organization's objects (``creation_state``)."""

    namespace_exists: bool
    exists: bool  # the object's name is taken (the object may be deleting)
    version: int  # the resourceVersion last committed
    companions_moved: bool  # a companion of the namespace changed after ``since``


@functools.cache
def _creation_statement(companions: int) -> str:
    """``creation_state``'s statement, from the models' tables and columns: a plain statement (every
    POST sends it, twice; built by the ORM it costs several times the CPU). With ``companions``
    (how many plurals), it also asks whether one of them changed in the namespace after a version;
    it runs on SQLite (the embedded default) too."""

    def of(model: Any, field: str) -> str:
        return store.column(model, field)

    same = " AND ".join(
        f"{of(KubeObject, field)} = %s" for field in ("group", "resource", "namespace", "name")
    )
    objects, events = store.table(KubeObject), store.table(KubeEvent)
    moved = (
        f"EXISTS (SELECT 1 FROM {events} WHERE {of(KubeEvent, 'organization')} = %s "
        f"AND {of(KubeEvent, 'resource_version')} > %s AND {of(KubeEvent, 'namespace')} = %s "
        f"AND {of(KubeEvent, 'resource')} IN ({', '.join(['%s'] * companions)}))"
        if companions
        else "FALSE"
    )
    return (
        f"SELECT (SELECT {of(KubeCounter, 'resource_version')} FROM {store.table(KubeCounter)} "
        f"WHERE {of(KubeCounter, 'organization')} = %s), "
        f"EXISTS (SELECT 1 FROM {objects} WHERE {of(KubeObject, 'organization')} = %s AND {same} "
        f"AND {of(KubeObject, 'deleted_at')} IS NULL), "
        f"EXISTS (SELECT 1 FROM {objects} WHERE {of(KubeObject, 'organization')} = %s AND {same}), "
        f"{moved}"
    )


def creation_state(
    organization: Organization,
    resource: Resource,
    namespace: str,
    name: str,
    *,
    since: int | None = None,
    companions: Sequence[str] = (),
) -> Creation:
    """For an object about to be created, in one statement: whether its namespace exists (always,
    for the default namespace and cluster-scoped kinds), whether its name is taken, the last
    committed resourceVersion, and whether an object of the namespace whose plural is in
    ``companions`` changed after version ``since`` (not asked when ``since`` is None)."""
    key_value = store.key(organization)
    asked = list(companions) if since is not None else []
    parameters = [
        key_value,
        key_value,
        *("", "namespaces", "", namespace),
        key_value,
        resource.group,
        resource.plural,
        namespace,
        name,
        *([key_value, since, namespace, *asked] if asked else []),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_creation_statement(len(asked)), parameters)
        version, namespace_found, exists, moved = cursor.fetchone()
    return Creation(
        namespace_exists=bool(namespace_found)
        or not resource.namespaced
        or namespace in store.DEFAULT_NAMESPACES,
        exists=bool(exists),
        version=int(version or 0),
        companions_moved=bool(moved),
    )


def _spec_changed(old: Json, new: Json) -> bool:
    return {k: v for k, v in old.items() if k not in _SPEC_FREE} != {
        k: v for k, v in new.items() if k not in _SPEC_FREE
    }


def normalized(ctx: Context, obj: Json, status: Json, old: KubeObject | None = None) -> tuple[Json, Json]:
    """The object and status a write stores (over ``old``), with what the API server fills in or
    derives."""
    if ctx.resource.kind == catalog.CRD_KIND:
        catalog.check_definition(obj)
        status = catalog.definition_status(obj)
    if ctx.resource.kind == "Secret" and "stringData" in obj:
        obj = _string_data_merged(obj)
    obj = defaults.defaulted(ctx.resource.group, obj)
    if (
        old is not None
        and old.deleted_at is None
        and ctx.resource.kind == "Job"
        and ctx.resource.group == "batch"
    ):
        obj = defaults.with_job_selector(obj, str(old.pk), old.name)  # as served (``store.served_body``)
    if ctx.resource.kind == "Service" and not ctx.resource.group:
        stored = store.stored_body(old) if old is not None and old.deleted_at is None else None
        obj = service_ips.with_cluster_ip(ctx.organization, ctx.namespace, obj, stored)
    elif _is_deployment(ctx.resource):
        obj = revisions.with_revision(obj, store.render(old) if old is not None else None)
    return obj, status


def _is_deployment(resource: Resource) -> bool:
    return resource.kind == "Deployment" and resource.group == "apps"


def unchanged(kobj: KubeObject, obj: Json, status: Json) -> bool:
    """Whether storing ``obj`` (normalized) with ``status`` would leave ``kobj`` as it is: the
    API server writes nothing then (no new resourceVersion, no watch event), so a GitOps tool
    applying what is already there every few minutes costs a read, not a write."""
    stored = store.served_body(kobj)
    return status == kobj.status and store.strip_served(obj) == stored


def _prepared(ctx: Context, kobj: KubeObject | None, obj: Json, status: Json) -> KubeObject:
    """``obj`` (normalized) written into ``kobj`` (a new object when None), as it will be stored."""
    generation = 1 if kobj is None else kobj.generation + _spec_changed(store.render(kobj), obj)
    write = store.Write(obj, status, generation)
    return store.prepared(ctx.organization, ctx.resource, ctx.namespace, obj["metadata"]["name"], write, kobj)


def _federated(ctx: Context, prepared: KubeObject) -> bool:
    return ctx.resource.workload and prepared.deleted_at is None


def _link(ctx: Context, prepared: KubeObject) -> None:
    """A workload object linked to its workload (made or updated) before it is stored: one write
    of the object, not two."""
    try:
        federation.workload_sync(ctx.organization, kobj=prepared, obj=store.render(prepared), actor=ctx.actor)
    except ValidationError as error:
        raise checks.federation_error(ctx.resource, prepared.name, error)


def _stored(ctx: Context, counter: KubeCounter, prepared: KubeObject, *, added: bool) -> KubeObject:
    saved = store.save_prepared(ctx.organization, counter, prepared, added=added)
    if not _federated(ctx, saved) and saved.kind in federation.COMPANION_KINDS:
        try:
            federation.companions_changed(ctx.organization, namespace=ctx.namespace, actor=ctx.actor)
        except ValidationError as error:
            raise checks.federation_error(ctx.resource, saved.name, error)
    return saved


def written(
    ctx: Context, counter: KubeCounter, kobj: KubeObject | None, obj: Json, status: Json
) -> KubeObject:
    """``obj`` stored over ``kobj`` (or as a new object), the counter locked throughout; a write
    that changes nothing stores nothing."""
    obj, status = normalized(ctx, obj, status, kobj)
    if kobj is not None and unchanged(kobj, obj, status):
        return kobj
    before = store.render(kobj) if kobj is not None and _is_deployment(ctx.resource) else None
    prepared = _prepared(ctx, kobj, obj, status)
    if _federated(ctx, prepared):
        _link(ctx, prepared)
    stored = _stored(ctx, counter, prepared, added=kobj is None)
    if before is not None:
        revisions.history_record(ctx.organization, stored, before, obj)
    return stored


def created(ctx: Context, obj: Json, status: Json, seen: Creation) -> KubeObject | None:
    """A new object stored, its workload made first: only its own write waits for the counter.

    Every write through the endpoint holds the organization's counter until it commits, so a
    create that held it from the start (for its checks, companions, policy, workload and audit
    event too: 10 of its statements) capped an organization at one create per ~10 ms, on any
    number of cores (``bench/submit_cost.py``). Here the counter is taken once the workload is
    made, and what was read before it (``seen``) is checked again under it, unless nothing was
    written since (the counter is where it was): the namespace (deleted meanwhile: 404), the name
    (taken meanwhile: None, the caller answers), and the companions of the namespace (one changed
    since ``seen``: the workload takes them again).

    A create of the same name racing this one inserts the same workload: the database's unique
    constraint makes the later one wait for the first to commit, then refuses it, and that is
    answered as the name being taken. The counter is taken after the workload here, before it
    on every other write, which never inserts a workload that a create could hold."""
    prepared = _prepared(ctx, None, *normalized(ctx, obj, status))
    name = prepared.name
    federated = _federated(ctx, prepared)
    if federated:
        try:
            _link(ctx, prepared)
        except errors.KubeError:
            if creation_state(ctx.organization, ctx.resource, ctx.namespace, name).exists:
                return None
            raise
    counter = store.lock(ctx.organization)
    if counter.resource_version == seen.version:
        return _stored(ctx, counter, prepared, added=True)  # nothing was written since ``seen``
    now = creation_state(
        ctx.organization, ctx.resource, ctx.namespace, name, since=seen.version, companions=_COMPANIONS
    )
    if not now.namespace_exists:
        raise errors.not_found("namespaces", "", ctx.namespace)
    if now.exists:
        return None
    if federated and now.companions_moved:
        _link(ctx, prepared)
    return _stored(ctx, counter, prepared, added=True)


# The plurals of the kinds that follow workloads (``created`` looks for changes of them).
_COMPANIONS = tuple(
    resource.plural
    for kind, group in COMPANION_GROUPS.items()
    if (resource := by_kind(group, kind)) is not None
)


def _string_data_merged(obj: Json) -> Json:
    """A Secret's stringData is written into data (base64), as the API server does; it is never kept."""
    merged = {k: v for k, v in obj.items() if k != "stringData"}
    plain = obj.get("stringData") or {}
    name = str(obj["metadata"]["name"])
    if not isinstance(plain, dict) or not all(isinstance(v, str) for v in plain.values()):
        raise errors.invalid("Secret", "", name, [("stringData", "Invalid value: must map keys to strings")])
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in plain.items()}
    merged["data"] = {**(obj.get("data") or {}), **encoded}
    return merged
